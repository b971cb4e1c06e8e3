//! The administrator removes an instance, from the command line and through
//! the admin API, while the server runs: nothing of it is left, counted in
//! the database and the blob store, and the other instance keeps all it had.

mod common;

use base64::Engine as _;
use common::{ADMIN_SECRET, Couch, OTHER_HOST, Server, send};
use nuage_store::{InstanceId, Store};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::time::Instant;

scenarios!(
    an_instance_removed_from_the_command_line_leaves_nothing,
    an_instance_removed_through_the_admin_api_is_gone_then_purged,
);

const NOTES: &str = "com.example.notes";

/// Documents (more than one purge chunk), attachments, a Mango index and a
/// `_local` document, written over HTTP as an app would.
async fn fill(couch: &Couch, docs: usize) {
    let who = &couch.token;
    let batch: Vec<Value> = (0..docs)
        .map(|i| json!({"_id": format!("n{i:04}"), "n": i}))
        .collect();
    couch
        .post(
            &format!("/data/{NOTES}/_bulk_docs"),
            &json!({"docs": batch}),
        )
        .await
        .expect_status(StatusCode::CREATED);
    couch
        .post(
            &format!("/data/{NOTES}/_index"),
            &json!({"index": {"fields": ["n"]}, "name": "by-n"}),
        )
        .await
        .expect_status(StatusCode::OK);
    for i in 0..3 {
        // Each instance's files differ (the token is in them).
        let data = base64::engine::general_purpose::STANDARD.encode(format!("{who} file {i}"));
        couch
            .save(
                NOTES,
                &format!("file{i}"),
                &json!({"_attachments": {"f.txt": {
            "content_type": "text/plain", "data": data}}}),
            )
            .await;
    }
    couch
        .put(
            &format!("/data/{NOTES}/_local/checkpoint"),
            &json!({"seq": 1}),
        )
        .await
        .expect_status(StatusCode::CREATED);
}

/// Every row of every table (index entries included) and the blobs of
/// `inst`.
async fn holdings(server: &Server, store: &Store, inst: &InstanceId) -> Vec<(String, i64)> {
    let mut out = store.rows_of_instance(inst).await;
    let blobs = server.blobs().count(inst).await.expect("count blobs");
    out.push(("blobs".into(), blobs as i64));
    out
}

/// `POST /instances` on the admin API.
async fn admin_creates(server: &Server, domain: &str) {
    send(
        server
            .http()
            .post(server.admin_url("/instances"))
            .bearer_auth(ADMIN_SECRET)
            .json(&json!({ "domain": domain })),
    )
    .await
    .expect_status(StatusCode::CREATED);
}

fn held(holdings: &[(String, i64)], what: &str) -> i64 {
    holdings
        .iter()
        .find(|(w, _)| w == what)
        .map_or(0, |(_, n)| *n)
}

fn assert_full(holdings: &[(String, i64)]) {
    for what in [
        "docs",
        "revs",
        "local_docs",
        "doc_indexes",
        "index_entries",
        "tokens",
        "blobs",
    ] {
        assert!(
            held(holdings, what) > 0,
            "no {what} to remove: {holdings:?}"
        );
    }
}

fn assert_nothing_left(holdings: &[(String, i64)]) {
    for (what, n) in holdings {
        assert_eq!(*n, 0, "{what}: {n} left of a removed instance");
    }
}

async fn id_of(store: &Store, domain: &str) -> InstanceId {
    store
        .instance_by_domain(domain)
        .await
        .expect("look up")
        .unwrap_or_else(|| panic!("no instance {domain}"))
        .id
}

async fn an_instance_removed_from_the_command_line_leaves_nothing(server: Server) {
    server.add_instance(OTHER_HOST).await;
    let kept_token = server.cli_token("com.example.notes:ALL", None).await;
    let gone_token = server
        .cli_token_on(OTHER_HOST, "com.example.notes:ALL", None)
        .await;
    fill(&server.couch_with(&kept_token), 40).await;
    fill(&server.couch_on(OTHER_HOST, &gone_token), 700).await;
    let store = server.store().await;
    let kept = id_of(&store, &server.domain).await;
    let gone = id_of(&store, OTHER_HOST).await;
    let kept_before = holdings(&server, &store, &kept).await;
    assert_full(&kept_before);
    assert_full(&holdings(&server, &store, &gone).await);

    let out = server.cli(&["instance", "rm", OTHER_HOST, "--yes"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(stdout.trim(), format!("removed {OTHER_HOST}"), "{stderr}");
    assert!(
        stderr.contains("rows purged") && stderr.contains("nothing left"),
        "the command line shows its progress: {stderr}"
    );

    // It returned when everything was gone.
    assert_nothing_left(&holdings(&server, &store, &gone).await);
    assert!(store.pending_removals().await.unwrap().is_empty());
    assert_eq!(holdings(&server, &store, &kept).await, kept_before);
    assert_eq!(
        server.couch_with(&kept_token).doc(NOTES, "n0039").await["n"],
        39
    );
}

async fn an_instance_removed_through_the_admin_api_is_gone_then_purged(server: Server) {
    let admin = server.http();
    admin_creates(&server, "c.localhost").await;
    let token = server
        .cli_token_on("c.localhost", "com.example.notes:ALL", None)
        .await;
    fill(&server.couch_on("c.localhost", &token), 600).await;
    let store = server.store().await;
    let gone = id_of(&store, "c.localhost").await;
    assert_full(&holdings(&server, &store, &gone).await);

    send(
        admin
            .delete(server.admin_url("/instances/c.localhost"))
            .bearer_auth(ADMIN_SECRET),
    )
    .await
    .expect_status(StatusCode::NO_CONTENT);
    // Gone to the world when the answer comes.
    send(
        admin
            .get(server.admin_url("/instances/c.localhost"))
            .bearer_auth(ADMIN_SECRET),
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "not_found");
    server
        .couch_on("c.localhost", &token)
        .get(&format!("/data/{NOTES}/n0001"))
        .await
        .expect_status(StatusCode::NOT_FOUND);

    // Purged in the background, soon.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = holdings(&server, &store, &gone).await;
        if now.iter().all(|(_, n)| *n == 0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still held 30 s after the removal: {now:?}\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(store.pending_removals().await.unwrap().is_empty());

    // The domain can be had again, new and empty; the old token is unknown.
    admin_creates(&server, "c.localhost").await;
    assert_ne!(id_of(&store, "c.localhost").await, gone);
    server
        .couch_on("c.localhost", &token)
        .get(&format!("/data/{NOTES}/n0001"))
        .await
        .expect_status(StatusCode::UNAUTHORIZED);
    let fresh = server
        .cli_token_on("c.localhost", "com.example.notes:ALL", None)
        .await;
    server
        .couch_on("c.localhost", &fresh)
        .get(&format!("/data/{NOTES}/n0001"))
        .await
        .expect_status(StatusCode::NOT_FOUND);
}
