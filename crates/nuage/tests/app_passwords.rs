//! Alice's phone syncs contacts with an app password made on the command
//! line; she sees when it was last used, and revokes it.

mod common;

use common::{Server, send};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

scenarios!(alice_gives_her_phone_an_app_password_then_revokes_it);

async fn phone_reads(server: &Server, password: &str) -> common::Reply {
    send(
        server
            .http()
            .get(server.url("/data/io.nuage.contacts/bob"))
            .basic_auth("phone", Some(password)),
    )
    .await
}

async fn listed(alice: &common::Browser) -> Vec<Value> {
    send(alice.api(Method::GET, "/settings/app-passwords"))
        .await
        .json_ok(StatusCode::OK)
        .as_array()
        .expect("a list of app passwords")
        .clone()
}

async fn alice_gives_her_phone_an_app_password_then_revokes_it(server: Server) {
    let alice = server.onboard_owner().await;
    alice
        .put_doc("io.nuage.contacts", "bob", &json!({"fn": "Bob Durand"}))
        .await;

    // The command prints the password alone, for scripts to capture.
    let password = server
        .app_password(&server.domain, "phone", "io.nuage.contacts:GET")
        .await;

    // Listed, never used yet, and the password itself is not shown again.
    let list = listed(&alice).await;
    assert_eq!(list.len(), 1, "{list:?}");
    let entry = &list[0];
    assert_eq!(entry["name"], "phone", "{entry}");
    assert_eq!(entry["scope"], "io.nuage.contacts:GET", "{entry}");
    assert!(entry["created_at"].is_number(), "{entry}");
    assert!(entry["last_used_at"].is_null(), "{entry}");
    assert!(!entry.to_string().contains(&password), "{entry}");
    let id = entry["id"].as_str().expect("an id").to_owned();

    // The phone reads contacts over HTTP Basic (any user name), and only
    // within its scope.
    let doc = phone_reads(&server, &password)
        .await
        .json_ok(StatusCode::OK);
    assert_eq!(doc["_id"], "bob", "{doc}");
    assert_eq!(doc["fn"], "Bob Durand", "{doc}");
    send(
        server
            .http()
            .put(server.url("/data/io.nuage.contacts/bob"))
            .basic_auth("phone", Some(&password))
            .json(&json!({"fn": "Mallory"})),
    )
    .await
    .expect_error(StatusCode::FORBIDDEN, "forbidden");

    // Alice sees that it was used.
    let list = listed(&alice).await;
    assert!(list[0]["last_used_at"].is_number(), "{list:?}");

    // She revokes it: the phone is shut out at once.
    send(alice.api(Method::DELETE, &format!("/settings/app-passwords/{id}")))
        .await
        .expect_status(StatusCode::NO_CONTENT);
    let refused = phone_reads(&server, &password).await;
    let challenge = refused.header("www-authenticate").unwrap_or_default();
    assert!(
        challenge.contains("Basic"),
        "Basic is offered too: {refused}"
    );
    refused.expect_unauthenticated();
    assert_eq!(listed(&alice).await, Vec::<Value>::new());
}
