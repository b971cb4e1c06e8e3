//! The administrator manages instances from the command line and through
//! the admin API while the server runs.

mod common;

use common::{ADMIN_SECRET, OTHER_HOST, PASSPHRASE, Server, cli_alone, send};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

scenarios!(
    the_admin_manages_instances_from_the_command_line,
    the_admin_api_manages_instances_and_reports_metrics,
    a_token_that_would_be_dead_or_everlasting_is_refused,
);

/// How long a running server may keep serving an instance another process
/// deleted: its caches trust what they read for a few seconds (instances
/// 5 s, credentials 10 s).
const CACHE_TTL: Duration = Duration::from_secs(11);

async fn the_admin_manages_instances_from_the_command_line(server: Server) {
    server.onboard_owner().await;

    // An instance added with a passphrase prints nothing to open…
    server.add_instance(OTHER_HOST).await;
    // …and one added without prints its onboarding link.
    let out = server.cli_ok(&["instance", "add", "c.localhost"]).await;
    assert!(
        out.contains("/auth/onboarding?token=nob_"),
        "`instance add` prints the onboarding link: {out:?}"
    );

    let ls = server.cli_ok(&["instance", "ls"]).await;
    for domain in [server.domain.as_str(), OTHER_HOST, "c.localhost"] {
        assert!(
            ls.lines()
                .any(|l| l.split_whitespace().any(|w| w == domain)),
            "`instance ls` lists {domain}: {ls:?}"
        );
    }
    let show = server.cli_ok(&["instance", "show", OTHER_HOST]).await;
    assert!(show.contains(OTHER_HOST), "{show:?}");

    // The running server serves the instance the command line added.
    let bob = server.browser_on(OTHER_HOST);
    bob.login_ok(PASSPHRASE).await;
    assert_eq!(bob.instance_settings().await["domain"], OTHER_HOST);

    // Removed, it is gone from the list and, soon, from the server.
    server
        .cli_ok(&["instance", "rm", OTHER_HOST, "--yes"])
        .await;
    let ls = server.cli_ok(&["instance", "ls"]).await;
    assert!(
        !ls.lines()
            .any(|l| l.split_whitespace().any(|w| w == OTHER_HOST)),
        "{ls:?}"
    );
    assert!(ls.contains(&server.domain), "{ls:?}");
    let missing = server.cli(&["instance", "show", OTHER_HOST]).await;
    assert!(
        !missing.status.success(),
        "`show` of a removed instance fails: {missing:?}"
    );
    let deadline = Instant::now() + CACHE_TTL;
    loop {
        let reply = send(server.http().get(server.url_on(OTHER_HOST, "/auth/login"))).await;
        if reply.status == StatusCode::NOT_FOUND || Instant::now() > deadline {
            reply.expect_error(StatusCode::NOT_FOUND, "unknown_instance");
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let deadline = Instant::now() + CACHE_TTL;
    loop {
        let reply = send(bob.api(reqwest::Method::GET, "/settings/instance")).await;
        if reply.status == StatusCode::NOT_FOUND || Instant::now() > deadline {
            reply.expect_error(StatusCode::NOT_FOUND, "unknown_instance");
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // The first instance is untouched.
    server
        .login(PASSPHRASE)
        .await
        .1
        .expect_status(StatusCode::SEE_OTHER);
}

async fn the_admin_api_manages_instances_and_reports_metrics(server: Server) {
    server.onboard_owner().await;
    let admin = server.http();
    let get = |path: &str| admin.get(server.admin_url(path)).bearer_auth(ADMIN_SECRET);

    // Without the secret, or with a wrong one: refused.
    send(admin.get(server.admin_url("/instances")))
        .await
        .expect_status(StatusCode::UNAUTHORIZED);
    send(
        admin
            .get(server.admin_url("/instances"))
            .bearer_auth("not-the-admin-secret"),
    )
    .await
    .expect_error(StatusCode::UNAUTHORIZED, "unauthenticated");

    // The list has the first instance, onboarded.
    let list = send(get("/instances")).await.json_ok(StatusCode::OK);
    let first = find(&list, &server.domain);
    assert_eq!(first["onboarded"], true, "{first}");
    for field in ["id", "created_at", "quota_bytes"] {
        assert!(first.get(field).is_some(), "no {field}: {first}");
    }

    // Create one: it comes with its onboarding link, and the public
    // listener serves it.
    let created = send(
        admin
            .post(server.admin_url("/instances"))
            .bearer_auth(ADMIN_SECRET)
            .json(&json!({"domain": "c.localhost", "quota_bytes": 1_000_000_000u64})),
    )
    .await
    .json_ok(StatusCode::CREATED);
    assert_eq!(created["domain"], "c.localhost", "{created}");
    assert_eq!(created["onboarded"], false, "{created}");
    assert_eq!(created["quota_bytes"], 1_000_000_000u64, "{created}");
    let link = created["onboarding_url"]
        .as_str()
        .expect("an onboarding_url");
    let token = reqwest::Url::parse(link)
        .unwrap_or_else(|e| panic!("onboarding_url {link:?}: {e}"))
        .query_pairs()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no token in {link:?}"));
    assert!(token.starts_with("nob_"), "{link}");
    let carol = server.browser_on("c.localhost");
    let page = carol.open(&format!("/auth/onboarding?token={token}")).await;
    assert_eq!(page.form().field("token"), Some(token.as_str()));
    send(
        admin
            .post(server.admin_url("/instances"))
            .bearer_auth(ADMIN_SECRET)
            .json(&json!({"domain": "c.localhost"})),
    )
    .await
    .expect_error(StatusCode::CONFLICT, "exists");

    let one = send(get("/instances/c.localhost"))
        .await
        .json_ok(StatusCode::OK);
    assert_eq!(one["domain"], "c.localhost", "{one}");
    let list = send(get("/instances")).await.json_ok(StatusCode::OK);
    find(&list, "c.localhost");
    assert_eq!(list.as_array().map(Vec::len), Some(2), "{list}");

    // Delete it.
    send(
        admin
            .delete(server.admin_url("/instances/c.localhost"))
            .bearer_auth(ADMIN_SECRET),
    )
    .await
    .expect_status(StatusCode::NO_CONTENT);
    send(get("/instances/c.localhost"))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    let list = send(get("/instances")).await.json_ok(StatusCode::OK);
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    send(
        server
            .http()
            .get(server.url_on("c.localhost", "/auth/login")),
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "unknown_instance");

    // Metrics, in Prometheus text format.
    let metrics = send(get("/metrics")).await.expect_status(StatusCode::OK);
    assert!(
        metrics.content_type().starts_with("text/plain"),
        "{metrics}"
    );
    assert!(
        metrics.body.lines().any(|l| l.starts_with("# TYPE ")),
        "Prometheus text declares its metric types: {metrics}"
    );
    for line in metrics
        .body
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let value = line.rsplit(' ').next().unwrap_or_default();
        assert!(
            value.parse::<f64>().is_ok() || ["+Inf", "-Inf", "NaN"].contains(&value),
            "a sample line ends with its value: {line:?}"
        );
    }
    send(admin.get(server.admin_url("/metrics")))
        .await
        .expect_status(StatusCode::UNAUTHORIZED);
}

fn find<'a>(list: &'a Value, domain: &str) -> &'a Value {
    list.as_array()
        .and_then(|l| l.iter().find(|i| i["domain"] == domain))
        .unwrap_or_else(|| panic!("{domain} is not in {list}"))
}

async fn a_token_that_would_be_dead_or_everlasting_is_refused(server: Server) {
    server.onboard_owner().await;
    let scope = "io.nuage.settings:GET";
    // Dead on arrival, or good for centuries: refused, saying what to ask
    // for, with nothing on stdout for a script to mistake for a token.
    for ttl in ["0", "99999999999", &u64::MAX.to_string()] {
        let out = server
            .cli(&["token", &server.domain, "--scope", scope, "--ttl", ttl])
            .await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "--ttl {ttl} must fail: {out:?}\nstderr: {stderr}"
        );
        assert!(out.stdout.is_empty(), "--ttl {ttl}: {out:?}");
        assert!(
            stderr.contains("--ttl") && stderr.contains("app password"),
            "--ttl {ttl}: the message says what to ask for instead: {stderr}"
        );
    }
    // The bounds themselves are fine: a second, and thirty days.
    for ttl in ["1", "2592000"] {
        server.cli_token(scope, Some(ttl)).await;
    }
}

/// A command that fails says why once, on stderr after `nuage: `, with
/// every cause, and exits non-zero. (Each cause here also quotes the one
/// it wraps: printed as a plain chain, it read three times.)
#[tokio::test]
async fn a_failing_command_says_why_once() {
    let url = "sqlite:///no-such-folder-for-nuage/nuage.db";
    let out = cli_alone(&["instance", "ls", "--database-url", url]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    assert!(stderr.starts_with("nuage: "), "{stderr}");
    for said in [url, "unable to open database file", "Check the URL"] {
        assert_eq!(
            stderr.matches(said).count(),
            1,
            "`{said}` must be said exactly once: {stderr}"
        );
    }
}

/// PostgreSQL is down, or the URL names the wrong port: the server and the
/// commands say which database they could not reach (without its
/// password) and what to check, within a few seconds.
#[tokio::test]
async fn an_unreachable_postgresql_is_named_quickly() {
    // A port nothing listens on: bound, then closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free local port")
        .port();
    let url = format!("postgres://postgres:hunter2@127.0.0.1:{port}/test");
    let serve = [
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--admin-listen",
        "127.0.0.1:0",
    ];
    for command in [&["instance", "ls"][..], &serve[..]] {
        let started = Instant::now();
        let out = cli_alone(&[command, &["--database-url", &url]].concat()).await;
        let took = started.elapsed();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let what = command[0];
        assert!(!out.status.success(), "{what}: {out:?}");
        assert!(
            took < Duration::from_secs(8),
            "{what} took {took:?} to give up: {stderr}"
        );
        assert!(
            !stderr.contains("hunter2"),
            "{what}: the password shows: {stderr}"
        );
        for said in [
            &format!("postgres://postgres:***@127.0.0.1:{port}/test")[..],
            "Is PostgreSQL running",
            "--database-url",
            "DATABASE_URL",
        ] {
            assert!(stderr.contains(said), "{what}: no `{said}` in {stderr}");
        }
    }
}
