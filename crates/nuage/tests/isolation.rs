//! Two clouds on one server: whatever opens the first one opens nothing on
//! the second, not even what the second would show its own owner.

mod common;

use common::oauth::App;
use common::{OTHER_HOST, Server, send};
use oauth2::TokenResponse;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::json;

scenarios!(credentials_of_one_cloud_open_nothing_on_another);

/// A credential as a request carries it.
enum Credential {
    Session(String),
    Bearer(String),
    AppPassword(String),
}

impl Credential {
    fn apply(&self, rb: RequestBuilder) -> RequestBuilder {
        match self {
            Credential::Session(s) => rb.header("cookie", format!("nuage_session={s}")),
            Credential::Bearer(t) => rb.bearer_auth(t),
            Credential::AppPassword(p) => rb.basic_auth("alice", Some(p)),
        }
    }
}

const ROUTES: [&str; 5] = [
    "/settings/instance",
    "/settings/sessions",
    "/settings/app-passwords",
    "/settings/clients",
    "/data/io.nuage.contacts/x",
];

async fn credentials_of_one_cloud_open_nothing_on_another(server: Server) {
    // Alice's cloud, with a contact.
    let alice = server.onboard_owner().await;
    let contact = json!({"name": "Xavier", "cloud": "alice"});
    alice.put_doc("io.nuage.contacts", "x", &contact).await;

    // Bob's cloud on the same server, with a contact of the same id.
    server.add_instance(OTHER_HOST).await;
    let bob = server.browser_on(OTHER_HOST);
    bob.login_ok(common::PASSPHRASE).await;
    let bob_settings = bob.instance_settings().await;
    assert_eq!(bob_settings["domain"], OTHER_HOST, "{bob_settings}");
    bob.put_doc(
        "io.nuage.contacts",
        "x",
        &json!({"name": "Xavier", "cloud": "bob"}),
    )
    .await;

    // Every kind of credential Alice can hand out.
    let session = alice.session().expect("Alice's session cookie");
    let cli_token = server.cli_token("io.nuage.settings:GET", None).await;
    let app = App::register(&server, "Contacts sync").await;
    let oauth = app.tokens(&alice, "io.nuage.contacts:GET").await;
    let app_password = server
        .app_password(&server.domain, "phone", "io.nuage.contacts:GET")
        .await;
    let credentials = [
        ("session cookie", Credential::Session(session)),
        ("CLI token", Credential::Bearer(cli_token)),
        (
            "OAuth access token",
            Credential::Bearer(oauth.access_token().secret().clone()),
        ),
        ("app password", Credential::AppPassword(app_password)),
    ];

    let http = server.http();
    for (what, credential) in &credentials {
        for route in ROUTES {
            let reply = send(credential.apply(http.get(server.url_on(OTHER_HOST, route)))).await;
            assert_eq!(
                reply.status,
                StatusCode::UNAUTHORIZED,
                "Alice's {what} must not open {route} on Bob's cloud: {reply}"
            );
            reply.expect_unauthenticated();
        }
    }

    // And they all still open Alice's own cloud, for what they allow.
    for (what, credential) in &credentials {
        let route = match what {
            &"session cookie" | &"CLI token" => "/settings/instance",
            _ => "/data/io.nuage.contacts/x",
        };
        let body = send(credential.apply(http.get(server.url(route))))
            .await
            .json_ok(StatusCode::OK);
        if route == "/settings/instance" {
            assert_eq!(body["domain"], server.domain.as_str(), "{what}: {body}");
        } else {
            assert_eq!(body["cloud"], "alice", "{what}: {body}");
            assert_eq!(body["_id"], "x", "{what}: {body}");
        }
    }

    // Bob's own session still sees only Bob's contact.
    let bobs = send(bob.api(Method::GET, "/data/io.nuage.contacts/x"))
        .await
        .json_ok(StatusCode::OK);
    assert_eq!(bobs["cloud"], "bob", "{bobs}");
}
