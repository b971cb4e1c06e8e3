//! Mallory sends the server everything but what it expects: each request
//! is refused with the documented error, the server keeps answering, and
//! nothing of Alice's changes.

mod common;

use common::{PASSPHRASE, Reply, Server, send, send_raw_http};
use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::time::{Duration, Instant};

scenarios!(
    bad_requests_are_refused_and_change_nothing,
    an_ambiguous_host_is_refused_before_any_instance_is_chosen,
);

/// What Mallory would like Alice's passphrase to become.
const MALLORYS: &str = "mallory was here all along";

/// A refused form post: 403, as a JSON `csrf` error or an HTML page.
fn refused_for_csrf(reply: Reply) {
    let reply = reply.expect_status(StatusCode::FORBIDDEN);
    assert!(reply.set_cookie("nuage_session").is_none(), "{reply}");
    if reply.is_json() {
        reply.expect_error(StatusCode::FORBIDDEN, "csrf");
    } else {
        assert!(
            reply.is_html(),
            "a form gets a page or a JSON error: {reply}"
        );
    }
}

async fn bad_requests_are_refused_and_change_nothing(server: Server) {
    let alice = server.onboard_owner().await;
    let change = json!({"current": PASSPHRASE, "new": MALLORYS}).to_string();

    // Malformed JSON.
    send(
        alice
            .api(Method::PUT, "/settings/passphrase")
            .header(CONTENT_TYPE, "application/json")
            .body(r#"{"current": "correct horse"#),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "bad_request");
    server.assert_healthy().await;

    // Well-formed JSON, but not said to be JSON.
    send(
        alice
            .api(Method::PUT, "/settings/passphrase")
            .body(change.clone()),
    )
    .await
    .expect_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    server.assert_healthy().await;

    // A body of 2 MiB, over the 1 MiB limit.
    let huge = json!({"current": PASSPHRASE, "new": "x".repeat(2 * 1024 * 1024)}).to_string();
    send(
        alice
            .api(Method::PUT, "/settings/passphrase")
            .header(CONTENT_TYPE, "application/json")
            .body(huge),
    )
    .await
    .expect_error(StatusCode::PAYLOAD_TOO_LARGE, "too_large");
    server.assert_healthy().await;

    // A cookie-authenticated change without X-CSRF-Token, as a page on
    // another site would send it.
    send(
        alice
            .client
            .put(alice.url("/settings/passphrase"))
            .header(CONTENT_TYPE, "application/json")
            .body(change.clone()),
    )
    .await
    .expect_error(StatusCode::FORBIDDEN, "csrf");
    server.assert_healthy().await;

    // Form posts without their csrf field: no logout, no login.
    refused_for_csrf(alice.post_form("/auth/logout", &[]).await);
    refused_for_csrf(
        alice
            .post_form("/auth/logout", &[("csrf", "not-the-cookie-value")])
            .await,
    );
    alice.instance_settings().await;
    let stranger = server.browser();
    stranger.open("/auth/login").await;
    refused_for_csrf(
        stranger
            .post_form("/auth/login", &[("passphrase", PASSPHRASE)])
            .await,
    );
    server.assert_healthy().await;

    // A forged bearer token.
    let forged = format!("nat_{}", "A".repeat(43));
    send(
        server
            .http()
            .get(server.url("/settings/instance"))
            .bearer_auth(&forged),
    )
    .await
    .expect_unauthenticated();

    // A CLI token past its time-to-live; a fresh one works on the same route.
    let short = server.cli_token("io.nuage.settings:GET", Some("1")).await;
    let issued = Instant::now();
    let fresh = server.cli_token("io.nuage.settings:GET", None).await;
    let settings = send(
        server
            .http()
            .get(server.url("/settings/instance"))
            .bearer_auth(&fresh),
    )
    .await
    .json_ok(StatusCode::OK);
    assert_eq!(settings["domain"], server.domain.as_str(), "{settings}");
    tokio::time::sleep(Duration::from_secs(2).saturating_sub(issued.elapsed())).await;
    send(
        server
            .http()
            .get(server.url("/settings/instance"))
            .bearer_auth(&short),
    )
    .await
    .expect_unauthenticated();

    // A host no instance has: unknown, except for the health check.
    send(
        server
            .http()
            .get(server.url_on("unknown.localhost", "/settings/instance")),
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "unknown_instance");
    let status = send(
        server
            .http()
            .get(server.url_on("unknown.localhost", "/status")),
    )
    .await
    .json_ok(StatusCode::OK);
    assert_eq!(status["status"], "ok", "{status}");
    assert_eq!(status["store"], "ok", "{status}");
    assert!(status["version"].is_string(), "{status}");

    // An app registering a redirect to someone else's site.
    let reply = send(
        server
            .http()
            .post(server.url("/auth/register"))
            .json(&json!({
                "client_name": "Totally legit",
                "redirect_uris": ["http://evil.example/cb"],
            })),
    )
    .await
    .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_redirect_uri");
    assert!(reply["error_description"].is_string(), "{reply}");
    server.assert_healthy().await;

    // Nothing changed: Alice's session and passphrase work, Mallory's
    // passphrase doesn't, and no app was registered.
    let settings = alice.instance_settings().await;
    assert_eq!(settings["domain"], server.domain.as_str(), "{settings}");
    let clients = send(alice.api(Method::GET, "/settings/clients"))
        .await
        .json_ok(StatusCode::OK);
    assert_eq!(clients, json!([]), "{clients}");
    let (_, reply) = server.login(MALLORYS).await;
    reply.expect_status(StatusCode::UNAUTHORIZED);
    let (again, reply) = server.login(PASSPHRASE).await;
    reply.expect_status(StatusCode::SEE_OTHER);
    again.instance_settings().await;
}

async fn an_ambiguous_host_is_refused_before_any_instance_is_chosen(server: Server) {
    let alice = server.onboard_owner().await;
    server.add_instance(common::OTHER_HOST).await;
    let port = server.addr.port();
    let mine = format!("Host: {}", server.domain);
    let other = format!("Host: {}:{port}", common::OTHER_HOST);
    let unknown = format!("Host: unknown.localhost:{port}");
    let session = format!(
        "Cookie: nuage_session={}",
        alice.session().expect("a session")
    );

    // RFC 9112 §3.2: two Host lines, a missing one on HTTP/1.1, or one
    // that is not a host: 400 with nuage's JSON error, whichever instance
    // either line names, and before any is looked up (an unknown host
    // first would otherwise answer 404 unknown_instance).
    for (what, lines) in [
        ("Alice's host twice", vec![mine.as_str(), mine.as_str()]),
        ("Alice's and Bob's", vec![mine.as_str(), other.as_str()]),
        ("Bob's and Alice's", vec![other.as_str(), mine.as_str()]),
        (
            "an unknown host, then Alice's",
            vec![unknown.as_str(), mine.as_str()],
        ),
        ("no Host at all", vec![]),
        ("a Host with userinfo", vec!["Host: alice@localhost"]),
    ] {
        for path in ["/settings/instance", "/status", "/auth/login"] {
            let head = [format!("GET {path} HTTP/1.1"), session.clone()]
                .into_iter()
                .chain(lines.iter().map(|l| l.to_string()))
                .collect::<Vec<_>>()
                .join("\r\n");
            let reply = send_raw_http(server.addr, &format!("{what}: {path}"), &head).await;
            let body = reply.expect_error(StatusCode::BAD_REQUEST, "bad_request");
            assert!(
                Reply::error_text(&body).contains("Host"),
                "{what}: the message names the header: {body}"
            );
        }
    }
    // The admin listener checks Host too, before the secret.
    let head = format!("GET /instances HTTP/1.1\r\n{mine}\r\n{other}");
    send_raw_http(server.admin_addr, "admin, two Hosts", &head)
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_request");
    server.assert_healthy().await;

    // One Host line is served as always; HTTP/1.0, which predates Host,
    // may leave it out where no instance is needed.
    let head = format!("GET /settings/instance HTTP/1.1\r\n{session}\r\n{mine}");
    let settings = send_raw_http(server.addr, "one Host", &head)
        .await
        .json_ok(StatusCode::OK);
    assert_eq!(settings["domain"], server.domain.as_str(), "{settings}");
    // RFC 9112 §3.2.2: a target in absolute form names the instance, as a
    // proxy routing by it would understand, whatever Host says.
    let head = format!("GET http://unknown.localhost:{port}/settings/instance HTTP/1.1\r\n{mine}");
    send_raw_http(server.addr, "absolute form", &head)
        .await
        .expect_error(StatusCode::NOT_FOUND, "unknown_instance");
    let status = send_raw_http(server.addr, "HTTP/1.0", "GET /status HTTP/1.0")
        .await
        .json_ok(StatusCode::OK);
    assert_eq!(status["status"], "ok", "{status}");
}
