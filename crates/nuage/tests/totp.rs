//! Alice turns on two-factor login with an authenticator app (here the
//! `totp-rs` crate, an implementation independent of the server's), and
//! logs in with its codes and with her recovery codes.

mod common;

use common::{Browser, PASSPHRASE, Page, Server, send};
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::time::{SystemTime, UNIX_EPOCH};
use totp_rs::Totp;

scenarios!(alice_turns_on_two_factor_login);

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs()
}

/// The passphrase step, when a second factor is on: a page asking for it.
async fn second_factor_page(alice: &Browser) -> Page {
    let reply = alice.login(PASSPHRASE).await.expect_status(StatusCode::OK);
    assert!(
        reply.set_cookie("nuage_session").is_none(),
        "the passphrase alone must not log in: {reply}"
    );
    let page = Page::new(reply);
    let form = page.form();
    for field in ["ticket", "code", "csrf", "next"] {
        assert!(form.has_input(field), "no `{field}` input: {}", page.reply);
    }
    assert!(
        form.action
            .as_deref()
            .is_some_and(|a| a.ends_with("/auth/login/second-factor")),
        "the second step posts to /auth/login/second-factor: {}",
        page.reply
    );
    page
}

async fn second_factor(alice: &Browser, page: &Page, code: &str) -> common::Reply {
    alice.submit(page, &[("code", code)]).await
}

async fn logged_in(alice: &Browser, reply: common::Reply) {
    let reply = reply.expect_status(StatusCode::SEE_OTHER);
    assert!(reply.set_cookie("nuage_session").is_some(), "{reply}");
    alice.instance_settings().await;
}

async fn alice_turns_on_two_factor_login(server: Server) {
    let alice = server.onboard_owner().await;

    // She starts enrolment and scans the otpauth URI.
    let enrolment = send(alice.api(Method::POST, "/settings/totp").json(&json!({})))
        .await
        .json_ok(StatusCode::OK);
    let uri = enrolment["otpauth_uri"].as_str().expect("an otpauth_uri");
    let app = Totp::from_url(uri).unwrap_or_else(|e| panic!("totp-rs can't read {uri:?}: {e:?}"));
    let secret = enrolment["secret"].as_str().expect("a secret");
    assert!(uri.contains(&format!("secret={secret}")), "{enrolment}");
    // Nothing changes until she confirms.
    assert_eq!(alice.instance_settings().await["totp_enabled"], false);

    // She confirms with the app's current code and gets recovery codes.
    let confirmed_at = unix_now();
    let first_code = app.generate(confirmed_at).to_string();
    let confirmed = send(
        alice
            .api(Method::POST, "/settings/totp/confirm")
            .json(&json!({ "code": first_code })),
    )
    .await
    .json_ok(StatusCode::OK);
    let recovery: Vec<String> = confirmed["recovery_codes"]
        .as_array()
        .unwrap_or_else(|| panic!("no recovery codes: {confirmed}"))
        .iter()
        .map(|c| c.as_str().expect("a code").to_owned())
        .collect();
    assert_eq!(recovery.len(), 10, "{confirmed}");
    for code in &recovery {
        let groups: Vec<&str> = code.split('-').collect();
        assert!(
            groups.len() == 4
                && groups
                    .iter()
                    .all(|g| g.len() == 4 && g.chars().all(|c| c.is_ascii_alphanumeric())),
            "recovery codes read xxxx-xxxx-xxxx-xxxx: {code}"
        );
    }
    let mut distinct = recovery.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 10, "{confirmed}");
    assert_eq!(alice.instance_settings().await["totp_enabled"], true);

    // Logged out, the passphrase now leads to a second step.
    alice.logout().await.expect_status(StatusCode::SEE_OTHER);
    let page = second_factor_page(&alice).await;
    send(alice.api(Method::GET, "/settings/instance"))
        .await
        .expect_unauthenticated();

    // The code she confirmed with was used; it is refused (a code works
    // once), and the ticket stays usable.
    let reply = second_factor(&alice, &page, &first_code)
        .await
        .expect_status(StatusCode::UNAUTHORIZED);
    assert!(reply.set_cookie("nuage_session").is_none(), "{reply}");

    // A recovery code logs her in, once.
    logged_in(&alice, second_factor(&alice, &page, &recovery[0]).await).await;
    alice.logout().await.expect_status(StatusCode::SEE_OTHER);
    let page = second_factor_page(&alice).await;
    let reply = second_factor(&alice, &page, &recovery[0])
        .await
        .expect_status(StatusCode::UNAUTHORIZED);
    assert!(reply.set_cookie("nuage_session").is_none(), "{reply}");

    // With the same ticket, the app's next code logs her in. A code is
    // accepted once per 30-second step and the current step's was used to
    // confirm; the server allows one step of clock drift (RFC 6238 §5.2), so
    // the code of the next step, as a phone whose clock runs a little ahead
    // would show it, is accepted now.
    let code = app.generate(app.next_step(confirmed_at)).to_string();
    logged_in(&alice, second_factor(&alice, &page, &code).await).await;
}
