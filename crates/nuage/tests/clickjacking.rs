//! Mallory's site puts Alice's cloud in an invisible frame and hopes she
//! clicks "Allow" or types her passphrase into it: every page nuage renders
//! refuses to be framed.

mod common;

use common::oauth::App;
use common::{Browser, PASSPHRASE, Reply, Server, send};
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::time::{SystemTime, UNIX_EPOCH};
use totp_rs::Totp;

scenarios!(no_page_of_alices_cloud_can_be_framed);

/// An HTML page that no other site may frame: CSP `frame-ancestors 'none'`
/// for current browsers, `X-Frame-Options: DENY` for older ones.
fn unframeable(what: &str, reply: &Reply) {
    assert!(reply.is_html(), "{what}: expected a page: {reply}");
    let csp = reply.header("content-security-policy").unwrap_or_default();
    assert!(
        csp.split(';')
            .any(|d| d.split_whitespace().collect::<Vec<_>>() == ["frame-ancestors", "'none'"]),
        "{what}: Content-Security-Policy must say frame-ancestors 'none': {reply}"
    );
    assert_eq!(
        reply.header("x-frame-options").as_deref(),
        Some("DENY"),
        "{what}: {reply}"
    );
}

/// Alice turns on two-factor login; the login then asks for a code.
async fn turn_on_two_factor(alice: &Browser) {
    let enrolment = send(alice.api(Method::POST, "/settings/totp").json(&json!({})))
        .await
        .json_ok(StatusCode::OK);
    let uri = enrolment["otpauth_uri"].as_str().expect("an otpauth_uri");
    let app = Totp::from_url(uri).unwrap_or_else(|e| panic!("totp-rs can't read {uri:?}: {e:?}"));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs();
    send(
        alice
            .api(Method::POST, "/settings/totp/confirm")
            .json(&json!({ "code": app.generate(now).to_string() })),
    )
    .await
    .json_ok(StatusCode::OK);
}

async fn no_page_of_alices_cloud_can_be_framed(server: Server) {
    // Onboarding, and the home page it leads to.
    let (_, onboarding) = server.onboarding_page().await;
    unframeable("the onboarding page", &onboarding.reply);
    let alice = server.onboard_owner().await;
    let home = alice.get("/").await.expect_status(StatusCode::OK);
    unframeable("the home page", &home);
    let used_link = alice.get(&server.onboarding_url).await;
    unframeable("a used onboarding link", &used_link);

    // An app asks for access: the consent page, and the page of a request
    // naming no known app.
    let app = App::register(&server, "Contacts sync").await;
    let (_, consent) = app.consent(&alice, "io.nuage.contacts:GET", "allow").await;
    unframeable("the consent page", &consent.reply);
    let bogus = alice
        .get("/auth/authorize?response_type=code&client_id=nobody")
        .await
        .expect_status(StatusCode::BAD_REQUEST);
    unframeable("a refused authorization request", &bogus);

    // Logging in: the form, a wrong passphrase, the second factor and a
    // wrong code.
    turn_on_two_factor(&alice).await;
    let stranger = server.browser();
    let login = stranger.open("/auth/login").await;
    unframeable("the login page", &login.reply);
    let wrong = stranger
        .submit(&login, &[("passphrase", "not the passphrase at all")])
        .await
        .expect_status(StatusCode::UNAUTHORIZED);
    unframeable("a refused login", &wrong);
    let second = stranger
        .login(PASSPHRASE)
        .await
        .expect_status(StatusCode::OK);
    unframeable("the second-factor page", &second);
    let second = common::Page::new(second);
    let wrong_code = stranger
        .submit(&second, &[("code", "000000")])
        .await
        .expect_status(StatusCode::UNAUTHORIZED);
    unframeable("a refused code", &wrong_code);
}
