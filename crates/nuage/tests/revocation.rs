//! Revoking a credential also ends what it already holds open: a phone's
//! live changes feed stops within seconds of its app password's revocation.

mod common;

use common::Server;
use reqwest::StatusCode;
use std::time::{Duration, Instant};

/// Alice revokes her only app password; returns when it is done.
async fn revoke_the_only_app_password(alice: &common::Browser) -> Instant {
    alice.revoke_the_only_app_password().await;
    Instant::now()
}

scenarios!(
    a_revoked_app_password_loses_its_live_feed,
    a_revoked_app_password_loses_a_busy_feed_too
);

async fn a_revoked_app_password_loses_its_live_feed(server: Server) {
    let alice = server.onboard_owner().await;
    let password = server
        .app_password(&server.domain, "old phone", "com.example.notes:ALL")
        .await;
    let url =
        server.url("/data/com.example.notes/_changes?feed=continuous&heartbeat=500&since=now");
    let mut feed = server
        .http()
        .get(url)
        .basic_auth("alice", Some(&password))
        .send()
        .await
        .expect("the feed answers");
    assert_eq!(feed.status(), StatusCode::OK);

    // Alice revokes the phone's password.
    let at = revoke_the_only_app_password(&alice).await;

    // The feed, which would otherwise run for as long as heartbeats flow,
    // ends at the next credential check (every 10 s).
    let ended = tokio::time::timeout(Duration::from_secs(15), async {
        while let Ok(Some(_)) = feed.chunk().await {}
    })
    .await;
    assert!(
        ended.is_ok(),
        "the feed still runs 15 s after the revocation"
    );
    assert!(
        at.elapsed() <= Duration::from_secs(12),
        "ended after {:?}",
        at.elapsed()
    );
}

/// The re-check clock must not restart at every change: a feed that never
/// waits (a change arrives every 100 ms) is cut as fast as an idle one.
async fn a_revoked_app_password_loses_a_busy_feed_too(server: Server) {
    let alice = server.onboard_owner().await;
    let password = server
        .app_password(&server.domain, "old phone", "com.example.notes:ALL")
        .await;
    let writer = server.cli_token("com.example.notes:ALL", None).await;
    let url = server.url("/data/com.example.notes/_changes?feed=continuous&since=now");
    let mut feed = server
        .http()
        .get(url)
        .basic_auth("alice", Some(&password))
        .send()
        .await
        .expect("the feed answers");
    assert_eq!(feed.status(), StatusCode::OK);
    let at = revoke_the_only_app_password(&alice).await;

    let http = server.http();
    let base = server.url("/data/com.example.notes/");
    let busy = tokio::spawn(async move {
        for i in 0..300 {
            let _ = http
                .put(format!("{base}n{i}"))
                .bearer_auth(&writer)
                .json(&serde_json::json!({"i": i}))
                .send()
                .await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let mut rows = 0;
    let ended = tokio::time::timeout(Duration::from_secs(15), async {
        while let Ok(Some(chunk)) = feed.chunk().await {
            rows += chunk.iter().filter(|b| **b == b'\n').count();
        }
    })
    .await;
    busy.abort();
    assert!(rows > 5, "the feed was busy: {rows} rows");
    assert!(
        ended.is_ok(),
        "a busy feed still runs 15 s after the revocation"
    );
    assert!(
        at.elapsed() <= Duration::from_secs(12),
        "ended after {:?}",
        at.elapsed()
    );
}
