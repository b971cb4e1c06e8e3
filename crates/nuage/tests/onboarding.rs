//! A new owner starts the server, chooses a passphrase through the printed
//! link, and comes back later with it.

mod common;

use common::{PASSPHRASE, Server, send};
use reqwest::{Method, StatusCode};

scenarios!(alice_onboards_and_reads_her_settings);

async fn alice_onboards_and_reads_her_settings(server: Server) {
    // The link printed on stdout points at the instance made for the
    // address the server listens on.
    let link_prefix = format!("http://{}/auth/onboarding?token=nob_", server.domain);
    assert!(
        server.onboarding_url.starts_with(&link_prefix),
        "onboarding link {:?} should start with {link_prefix:?}",
        server.onboarding_url
    );

    // She opens it: a form with the token, the passphrase twice and the
    // CSRF token, the latter also set as a script-readable strict cookie.
    let alice = server.browser();
    let page = alice.open(&server.onboarding_url).await;
    let form = page.form();
    for field in ["token", "passphrase", "passphrase_confirm", "csrf"] {
        assert!(form.has_input(field), "no `{field}` input: {}", page.reply);
    }
    let csrf_cookie = page
        .reply
        .set_cookie("nuage_csrf")
        .unwrap_or_else(|| panic!("the form page must set nuage_csrf: {}", page.reply));
    assert!(csrf_cookie.contains("SameSite=Strict"), "{csrf_cookie}");
    assert!(
        !csrf_cookie.contains("HttpOnly"),
        "scripts must read it: {csrf_cookie}"
    );

    let reply = alice
        .submit(
            &page,
            &[
                ("passphrase", PASSPHRASE),
                ("passphrase_confirm", PASSPHRASE),
            ],
        )
        .await
        .expect_status(StatusCode::SEE_OTHER);
    assert_eq!(reply.location(), "/", "{reply}");
    let session_cookie = reply
        .set_cookie("nuage_session")
        .unwrap_or_else(|| panic!("onboarding must log in: {reply}"));
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(
            session_cookie.contains(attribute),
            "the session cookie lacks {attribute}: {session_cookie}"
        );
    }
    assert!(
        !session_cookie.contains("Secure"),
        "plain http: {session_cookie}"
    );

    // Logged in: her settings and home page answer.
    let settings = alice.instance_settings().await;
    assert_eq!(settings["domain"], server.domain.as_str(), "{settings}");
    assert_eq!(settings["totp_enabled"], false, "{settings}");
    alice.get("/").await.expect_status(StatusCode::OK);

    // She logs out: back to the login page, and the old cookie is dead.
    let old_session = alice.session().expect("a session cookie");
    let reply = alice.logout().await.expect_status(StatusCode::SEE_OTHER);
    assert_eq!(reply.location(), "/auth/login", "{reply}");
    send(
        server
            .http()
            .get(server.url("/settings/instance"))
            .header("cookie", format!("nuage_session={old_session}")),
    )
    .await
    .expect_unauthenticated();
    let home = alice.get("/").await.expect_status(StatusCode::SEE_OTHER);
    let to_login = reqwest::Url::parse(&alice.url(&home.location())).expect("a login URL");
    assert_eq!(to_login.path(), "/auth/login", "{home}");
    assert_eq!(
        to_login
            .query_pairs()
            .find(|(k, _)| k == "next")
            .map(|(_, v)| v.into_owned()),
        Some("/".to_owned()),
        "{home}"
    );

    // She comes back with her passphrase.
    let reply = alice
        .login(PASSPHRASE)
        .await
        .expect_status(StatusCode::SEE_OTHER);
    assert_eq!(reply.location(), "/", "{reply}");
    assert!(reply.set_cookie("nuage_session").is_some(), "{reply}");
    let settings = send(alice.api(Method::GET, "/settings/instance"))
        .await
        .json_ok(StatusCode::OK);
    assert_eq!(settings["domain"], server.domain.as_str(), "{settings}");
    for field in ["created_at", "quota_bytes"] {
        assert!(settings.get(field).is_some(), "no {field}: {settings}");
    }

    // The link was for once only: someone who finds it later can't take
    // the instance over.
    the_used_link_is_refused(&server).await;
    let (_, reply) = server.login(PASSPHRASE).await;
    reply.expect_status(StatusCode::SEE_OTHER);
    let (_, reply) = server.login("a passphrase chosen by a thief").await;
    reply.expect_status(StatusCode::UNAUTHORIZED);
}

async fn the_used_link_is_refused(server: &Server) {
    let thief = server.browser();
    // A CSRF token from any form page, as a browser would have.
    thief.open("/auth/login").await;
    let token = reqwest::Url::parse(&server.onboarding_url)
        .expect("onboarding URL")
        .query_pairs()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
        .expect("a token in the onboarding link");
    let thief_passphrase = "a passphrase chosen by a thief";
    let reply = thief
        .post_form(
            "/auth/onboarding",
            &[
                ("token", &token),
                ("passphrase", thief_passphrase),
                ("passphrase_confirm", thief_passphrase),
                ("csrf", &thief.csrf()),
            ],
        )
        .await
        .expect_status(StatusCode::BAD_REQUEST);
    assert!(reply.is_html(), "the link is for people: {reply}");
    assert!(reply.set_cookie("nuage_session").is_none(), "{reply}");
}
