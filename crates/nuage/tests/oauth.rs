//! A contacts app asks Alice for access through OAuth 2 (authorization code
//! with PKCE), driven by the `oauth2` crate as a real app would be.

mod common;

use common::oauth::{App, REDIRECT_URI, TokenError, describe, error_code};
use common::{Browser, Server, send};
use oauth2::basic::{BasicErrorResponseType, BasicTokenType};
use oauth2::{AccessToken, PkceCodeVerifier, RefreshToken, Scope, TokenResponse};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

scenarios!(
    an_app_asks_alice_and_reads_only_her_contacts,
    a_refreshed_token_works_and_a_replayed_one_ends_the_grant,
    an_app_revokes_its_tokens,
    alice_removes_an_app_and_its_tokens_stop_working,
    alice_says_no_and_the_app_is_told,
    a_stolen_code_is_useless_without_the_verifier,
    a_code_used_twice_revokes_every_token_it_gave,
    an_app_whose_metadata_hides_control_characters_is_refused,
    a_code_challenge_that_is_not_base64url_is_sent_back,
);

const CONTACTS_GET: &str = "io.nuage.contacts:GET";

/// Alice, logged in, with one contact the app will want to read.
async fn alice_with_a_contact(server: &Server) -> Browser {
    let alice = server.onboard_owner().await;
    alice
        .put_doc(
            "io.nuage.contacts",
            "alice",
            &json!({"fn": "Alice Martin", "email": "alice@example.org"}),
        )
        .await;
    alice
}

/// `GET path` with a bearer token.
async fn bearer_get(server: &Server, token: &str, path: &str) -> common::Reply {
    send(server.http().get(server.url(path)).bearer_auth(token)).await
}

async fn reads_contacts(server: &Server, token: &str) -> Value {
    let doc = bearer_get(server, token, "/data/io.nuage.contacts/alice")
        .await
        .json_ok(StatusCode::OK);
    assert_eq!(doc["_id"], "alice", "{doc}");
    assert_eq!(doc["fn"], "Alice Martin", "{doc}");
    doc
}

/// The token endpoint refused, as RFC 6749 §5.2 says it must: `invalid_grant`.
fn refused_grant<T: std::fmt::Debug>(answer: Result<T, TokenError>, why: &str) {
    let err = answer.expect_err(why);
    assert_eq!(
        error_code(&err),
        Some(BasicErrorResponseType::InvalidGrant),
        "{why}: {}",
        describe(&err)
    );
}

/// A grant is over: its access tokens are unknown, its refresh token refused.
async fn grant_is_over(
    server: &Server,
    app: &App,
    access: &[&AccessToken],
    refresh: &RefreshToken,
) {
    for token in access {
        bearer_get(server, token.secret(), "/data/io.nuage.contacts/alice")
            .await
            .expect_unauthenticated();
    }
    refused_grant(app.refresh(refresh).await, "the grant is over");
}

async fn an_app_asks_alice_and_reads_only_her_contacts(server: Server) {
    let alice = alice_with_a_contact(&server).await;

    // The app discovers the endpoints (RFC 8414) and registers (RFC 7591).
    let meta = send(
        server
            .http()
            .get(server.url("/.well-known/oauth-authorization-server")),
    )
    .await
    .json_ok(StatusCode::OK);
    let issuer = server.url("");
    assert_eq!(meta["issuer"], issuer.as_str(), "{meta}");
    for (field, path) in [
        ("authorization_endpoint", "/auth/authorize"),
        ("token_endpoint", "/auth/token"),
        ("registration_endpoint", "/auth/register"),
        ("revocation_endpoint", "/auth/revoke"),
    ] {
        assert_eq!(meta[field], server.url(path).as_str(), "{field}: {meta}");
    }
    let methods = meta["code_challenge_methods_supported"].as_array();
    assert!(
        methods.is_some_and(|m| m.contains(&json!("S256"))),
        "PKCE S256 must be advertised: {meta}"
    );
    let app = App::register(&server, "Contacts sync").await;
    assert_eq!(app.registration["client_name"], "Contacts sync");
    assert_eq!(app.registration["redirect_uris"], json!([REDIRECT_URI]));
    assert!(
        app.registration.get("client_secret").is_none(),
        "a public client gets no secret: {}",
        app.registration
    );

    // Alice is asked in plain words, and allows.
    let (auth, consent) = app.consent(&alice, CONTACTS_GET, "allow").await;
    assert!(
        consent.body().contains("See your contacts"),
        "the consent page must say what the app may do: {}",
        consent.reply
    );
    let code = auth.code();
    assert_eq!(
        auth.param("iss").as_deref(),
        Some(issuer.as_str()),
        "RFC 9207: the redirect names the issuer: {}",
        auth.redirect
    );

    // The app exchanges the code with its PKCE verifier.
    let tokens = app
        .exchange(code, auth.verifier)
        .await
        .unwrap_or_else(|e| panic!("code exchange: {}", describe(&e)));
    assert_eq!(tokens.token_type(), &BasicTokenType::Bearer);
    assert!(tokens.access_token().secret().starts_with("nat_"));
    assert!(
        tokens
            .refresh_token()
            .is_some_and(|r| r.secret().starts_with("nrt_")),
        "a refresh token comes with the access token"
    );
    assert_eq!(
        tokens.scopes(),
        Some(&vec![Scope::new(CONTACTS_GET.to_owned())])
    );
    assert!(tokens.expires_in().is_some_and(|d| d.as_secs() > 0));

    // It may read the contacts, and nothing else.
    let token = tokens.access_token().secret();
    reads_contacts(&server, token).await;
    let put = send(
        server
            .http()
            .put(server.url("/data/io.nuage.contacts/alice"))
            .bearer_auth(token)
            .json(&json!({"fn": "Mallory"})),
    )
    .await
    .expect_error(StatusCode::FORBIDDEN, "forbidden");
    assert!(
        common::Reply::error_text(&put).contains("io.nuage.contacts:PUT"),
        "the message names the scope needed: {put}"
    );
    for (path, doctype) in [
        ("/settings/instance", "io.nuage.settings"),
        ("/data/io.nuage.files/x", "io.nuage.files"),
    ] {
        let body = bearer_get(&server, token, path)
            .await
            .expect_error(StatusCode::FORBIDDEN, "forbidden");
        assert!(
            common::Reply::error_text(&body).contains(doctype),
            "the message names the scope needed: {body}"
        );
    }
    // The refused write changed nothing.
    reads_contacts(&server, token).await;
}

async fn a_refreshed_token_works_and_a_replayed_one_ends_the_grant(server: Server) {
    let alice = alice_with_a_contact(&server).await;
    let app = App::register(&server, "Contacts sync").await;
    let first = app.tokens(&alice, CONTACTS_GET).await;
    let first_refresh = first.refresh_token().expect("a refresh token").clone();

    // Refreshing rotates both tokens; the new ones work.
    let second = app
        .refresh(&first_refresh)
        .await
        .unwrap_or_else(|e| panic!("refresh: {}", describe(&e)));
    let second_refresh = second.refresh_token().expect("a new refresh token").clone();
    assert_ne!(second_refresh.secret(), first_refresh.secret());
    assert_ne!(
        second.access_token().secret(),
        first.access_token().secret()
    );
    reads_contacts(&server, second.access_token().secret()).await;

    // The old refresh token comes back (stolen, say): refused, and the
    // whole grant ends, the thief's and the app's tokens alike.
    refused_grant(
        app.refresh(&first_refresh).await,
        "a used refresh token must be refused",
    );
    grant_is_over(
        &server,
        &app,
        &[first.access_token(), second.access_token()],
        &second_refresh,
    )
    .await;
}

async fn an_app_revokes_its_tokens(server: Server) {
    let alice = alice_with_a_contact(&server).await;
    let app = App::register(&server, "Contacts sync").await;
    let tokens = app.tokens(&alice, CONTACTS_GET).await;
    let access = tokens.access_token().secret();
    reads_contacts(&server, access).await;

    // RFC 7009: revoking answers 200, and the token is dead at once.
    app.revoke(access, "access_token")
        .await
        .expect_status(StatusCode::OK);
    bearer_get(&server, access, "/data/io.nuage.contacts/alice")
        .await
        .expect_unauthenticated();

    // Revoking the refresh token ends the grant.
    let refresh = tokens.refresh_token().expect("a refresh token");
    app.revoke(refresh.secret(), "refresh_token")
        .await
        .expect_status(StatusCode::OK);
    refused_grant(app.refresh(refresh).await, "revoked");

    // An unknown token is answered the same (RFC 7009 §2.2).
    app.revoke("nat_this-token-never-existed", "access_token")
        .await
        .expect_status(StatusCode::OK);
}

async fn alice_removes_an_app_and_its_tokens_stop_working(server: Server) {
    let alice = alice_with_a_contact(&server).await;
    let app = App::register(&server, "Contacts sync").await;
    let tokens = app.tokens(&alice, CONTACTS_GET).await;
    reads_contacts(&server, tokens.access_token().secret()).await;

    // Alice sees the app in her settings, with when it was last used.
    let clients = send(alice.api(Method::GET, "/settings/clients"))
        .await
        .json_ok(StatusCode::OK);
    let listed = clients.as_array().expect("a list of clients");
    assert_eq!(listed.len(), 1, "{clients}");
    let client = &listed[0];
    assert_eq!(client["client_id"], app.client_id.as_str(), "{client}");
    assert_eq!(client["client_name"], "Contacts sync", "{client}");
    assert_eq!(client["redirect_uris"], json!([REDIRECT_URI]), "{client}");
    assert!(client["created_at"].is_number(), "{client}");
    assert!(
        client["last_used_at"].is_number(),
        "the app used its token: {client}"
    );

    // She removes it: its tokens stop working at once.
    send(alice.api(
        Method::DELETE,
        &format!("/settings/clients/{}", app.client_id),
    ))
    .await
    .expect_status(StatusCode::NO_CONTENT);
    bearer_get(
        &server,
        tokens.access_token().secret(),
        "/data/io.nuage.contacts/alice",
    )
    .await
    .expect_unauthenticated();
    let err = app
        .refresh(tokens.refresh_token().expect("a refresh token"))
        .await
        .expect_err("the app is gone");
    assert!(
        matches!(
            error_code(&err),
            Some(BasicErrorResponseType::InvalidGrant | BasicErrorResponseType::InvalidClient)
        ),
        "{}",
        describe(&err)
    );
    let clients = send(alice.api(Method::GET, "/settings/clients"))
        .await
        .json_ok(StatusCode::OK);
    assert_eq!(clients, json!([]), "{clients}");
}

async fn alice_says_no_and_the_app_is_told(server: Server) {
    let alice = alice_with_a_contact(&server).await;
    let app = App::register(&server, "Contacts sync").await;
    let (auth, _) = app.consent(&alice, CONTACTS_GET, "deny").await;
    assert_eq!(
        auth.param("error").as_deref(),
        Some("access_denied"),
        "{}",
        auth.redirect
    );
    assert_eq!(
        auth.param("state").as_deref(),
        Some(auth.state.secret().as_str()),
        "{}",
        auth.redirect
    );
    assert_eq!(auth.param("code"), None, "{}", auth.redirect);
    assert!(
        auth.redirect.as_str().starts_with(REDIRECT_URI),
        "{}",
        auth.redirect
    );
}

async fn a_stolen_code_is_useless_without_the_verifier(server: Server) {
    let alice = alice_with_a_contact(&server).await;
    let app = App::register(&server, "Contacts sync").await;
    let (auth, _) = app.consent(&alice, CONTACTS_GET, "allow").await;
    let code = auth.code();
    // A thief who saw the redirect has the code but not the verifier.
    let guessed = PkceCodeVerifier::new("x".repeat(43) + "guessed-verifier-of-the-thief");
    refused_grant(
        app.exchange(code, guessed).await,
        "a wrong verifier must be refused",
    );
}

async fn a_code_used_twice_revokes_every_token_it_gave(server: Server) {
    let alice = alice_with_a_contact(&server).await;
    let app = App::register(&server, "Contacts sync").await;
    let (auth, _) = app.consent(&alice, CONTACTS_GET, "allow").await;
    let code = auth.code();
    let verifier = || PkceCodeVerifier::new(auth.verifier.secret().clone());
    // Another grant of the same app, which the replay must not touch.
    let other_grant = app.tokens(&alice, CONTACTS_GET).await;

    // The app exchanges the code and refreshes once: two generations of
    // tokens from the one code.
    let first = app
        .exchange(code.clone(), verifier())
        .await
        .unwrap_or_else(|e| panic!("code exchange: {}", describe(&e)));
    reads_contacts(&server, first.access_token().secret()).await;
    let second = app
        .refresh(first.refresh_token().expect("a refresh token"))
        .await
        .unwrap_or_else(|e| panic!("refresh: {}", describe(&e)));
    reads_contacts(&server, second.access_token().secret()).await;

    // The code comes back, with the right verifier even (the app retried,
    // or someone saw the whole exchange): refused, and RFC 6749 §4.1.2's
    // SHOULD: every token it gave is revoked.
    refused_grant(app.exchange(code, verifier()).await, "a code works once");
    grant_is_over(
        &server,
        &app,
        &[first.access_token(), second.access_token()],
        second.refresh_token().expect("a refresh token"),
    )
    .await;

    // The other grant still works.
    reads_contacts(&server, other_grant.access_token().secret()).await;
    app.refresh(other_grant.refresh_token().expect("a refresh token"))
        .await
        .unwrap_or_else(|e| panic!("the other grant's refresh: {}", describe(&e)));
}

async fn an_app_whose_metadata_hides_control_characters_is_refused(server: Server) {
    let alice = server.onboard_owner().await;
    let register = |body: Value| {
        let http = server.http();
        let url = server.url("/auth/register");
        async move { send(http.post(url).json(&body)).await }
    };
    let app = |field: &str, value: Value| {
        let mut body = json!({
            "client_name": "Contacts sync",
            "redirect_uris": [REDIRECT_URI],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
        });
        body[field] = value;
        body
    };
    // A NUL (which PostgreSQL's TEXT can't hold), an escape sequence, a
    // line break that would forge a log line: RFC 7591 §3.2.2, the error
    // naming the field, the same on every engine.
    for bad in ["Contacts\u{0}sync", "\u{1b}[31mContacts", "Contacts\nsync"] {
        for (field, value, error) in [
            ("client_name", json!(bad), "invalid_client_metadata"),
            (
                "client_uri",
                json!(format!("https://a.example/{bad}")),
                "invalid_client_metadata",
            ),
            (
                "logo_uri",
                json!(format!("https://a.example/{bad}")),
                "invalid_client_metadata",
            ),
            ("software_id", json!(bad), "invalid_client_metadata"),
            ("software_version", json!(bad), "invalid_client_metadata"),
            (
                "scope",
                json!(format!("{CONTACTS_GET}{bad}")),
                "invalid_client_metadata",
            ),
            (
                "grant_types",
                json!(["authorization_code", bad]),
                "invalid_client_metadata",
            ),
            ("response_types", json!([bad]), "invalid_client_metadata"),
            (
                "token_endpoint_auth_method",
                json!(bad),
                "invalid_client_metadata",
            ),
            (
                "redirect_uris",
                json!([format!("{REDIRECT_URI}{bad}")]),
                "invalid_redirect_uri",
            ),
        ] {
            let reply = register(app(field, value))
                .await
                .expect_oauth_error(StatusCode::BAD_REQUEST, error);
            let said = reply["error_description"].as_str().unwrap_or_default();
            assert!(
                said.contains(field) && said.contains("control character"),
                "{field} = {bad:?}: the description names the field: {reply}"
            );
        }
    }
    server.assert_healthy().await;
    let clients = send(alice.api(Method::GET, "/settings/clients"))
        .await
        .json_ok(StatusCode::OK);
    assert_eq!(clients, json!([]), "nothing was registered: {clients}");

    // Text that is merely unusual is welcome.
    let named = register(app("client_name", json!("Kontakte – Sync ✓ «日本»")))
        .await
        .json_ok(StatusCode::CREATED);
    assert_eq!(named["client_name"], "Kontakte – Sync ✓ «日本»", "{named}");
}

async fn a_code_challenge_that_is_not_base64url_is_sent_back(server: Server) {
    let alice = alice_with_a_contact(&server).await;
    let app = App::register(&server, "Contacts sync").await;
    // 43 characters, as S256 gives, but not base64url (RFC 7636 §4.2): a
    // NUL, which PostgreSQL's TEXT can't hold, or punctuation.
    for challenge in [format!("\u{0}{}", "A".repeat(42)), "!".repeat(43)] {
        let (mut url, _, _) = app.authorize_url(CONTACTS_GET);
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| match &*k {
                "code_challenge" => (k.into_owned(), challenge.clone()),
                _ => (k.into_owned(), v.into_owned()),
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
        let reply = alice
            .get(url.as_str())
            .await
            .expect_status(StatusCode::SEE_OTHER);
        let back = reqwest::Url::parse(&reply.location()).expect("a redirect URL");
        assert!(back.as_str().starts_with(REDIRECT_URI), "{reply}");
        assert!(
            back.query_pairs()
                .any(|(k, v)| k == "error" && v == "invalid_request"),
            "{challenge:?}: {reply}"
        );
    }
}
