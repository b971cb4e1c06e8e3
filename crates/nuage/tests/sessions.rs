//! Alice is logged in on her laptop and her phone; she ends the phone's
//! session from the laptop, and changing her passphrase ends all others.

mod common;

use common::{Browser, PASSPHRASE, Server, send};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

scenarios!(alice_ends_her_other_sessions);

const NEW_PASSPHRASE: &str = "a brand new passphrase for alice";

async fn sessions(b: &Browser) -> Vec<Value> {
    send(b.api(Method::GET, "/settings/sessions"))
        .await
        .json_ok(StatusCode::OK)
        .as_array()
        .expect("a list of sessions")
        .clone()
}

async fn works(b: &Browser) {
    b.instance_settings().await;
}

async fn is_logged_out(b: &Browser) {
    send(b.api(Method::GET, "/settings/instance"))
        .await
        .expect_unauthenticated();
}

async fn alice_ends_her_other_sessions(server: Server) {
    server.onboard_owner().await;
    let laptop = server.browser_named("alice laptop");
    laptop.login_ok(PASSPHRASE).await;
    let phone = server.browser_named("alice phone");
    phone.login_ok(PASSPHRASE).await;
    works(&laptop).await;
    works(&phone).await;

    // The laptop lists both of its owner's logins, and knows which it is.
    let list = sessions(&laptop).await;
    let mine: Vec<&Value> = list.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(
        mine.len(),
        1,
        "exactly one session is the current one: {list:?}"
    );
    assert_eq!(mine[0]["user_agent"], "alice laptop", "{list:?}");
    let phones: Vec<&Value> = list
        .iter()
        .filter(|s| s["user_agent"] == "alice phone")
        .collect();
    assert_eq!(phones.len(), 1, "{list:?}");
    let phone_session = phones[0];
    assert_eq!(phone_session["current"], false, "{list:?}");
    for field in ["id", "created_at", "last_seen_at", "expires_at", "address"] {
        assert!(
            !phone_session[field].is_null(),
            "no {field}: {phone_session}"
        );
    }

    // The phone was lost: ending its session logs it out, and only it.
    let id = phone_session["id"].as_str().expect("a session id");
    send(laptop.api(Method::DELETE, &format!("/settings/sessions/{id}")))
        .await
        .expect_status(StatusCode::NO_CONTENT);
    is_logged_out(&phone).await;
    works(&laptop).await;
    assert!(
        sessions(&laptop).await.iter().all(|s| s["id"] != id),
        "the ended session is no longer listed"
    );

    // Two more logins; then a new passphrase ends every session but the
    // one that changed it.
    phone.login_ok(PASSPHRASE).await;
    let tablet = server.browser_named("alice tablet");
    tablet.login_ok(PASSPHRASE).await;
    let before = sessions(&laptop).await.len();
    let changed = send(
        laptop
            .api(Method::PUT, "/settings/passphrase")
            .json(&json!({"current": PASSPHRASE, "new": NEW_PASSPHRASE})),
    )
    .await
    .json_ok(StatusCode::OK);
    assert_eq!(changed["revoked_sessions"], json!(before - 1), "{changed}");
    is_logged_out(&phone).await;
    is_logged_out(&tablet).await;
    works(&laptop).await;
    let left = sessions(&laptop).await;
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0]["current"], true, "{left:?}");

    // The old passphrase is gone, the new one works.
    let (_, reply) = server.login(PASSPHRASE).await;
    reply.expect_status(StatusCode::UNAUTHORIZED);
    phone.login_ok(NEW_PASSPHRASE).await;
    works(&phone).await;
}
