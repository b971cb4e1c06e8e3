//! Revoking a credential also ends what it already holds open: a phone's
//! live changes feed stops within seconds of its app password's revocation.

mod common;

use common::{Server, send};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::time::{Duration, Instant};

scenarios!(a_revoked_app_password_loses_its_live_feed);

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
    let list: Value = serde_json::from_str(
        &send(alice.api(Method::GET, "/settings/app-passwords"))
            .await
            .body,
    )
    .unwrap();
    let id = list[0]["id"]
        .as_str()
        .expect("the app password's id")
        .to_owned();
    let revoked = send(alice.api(Method::DELETE, &format!("/settings/app-passwords/{id}"))).await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{revoked}");
    let at = Instant::now();

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
