//! Stopping the server: SIGTERM ends it promptly even while clients hold
//! live feeds open (PouchDB's live sync keeps a longpoll with a heartbeat,
//! which never times out), and those clients get a complete answer.

mod common;

use common::{Server, send};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

scenarios!(a_service_manager_stops_nuage_while_a_phone_is_syncing);

async fn a_service_manager_stops_nuage_while_a_phone_is_syncing(mut server: Server) {
    let token = server.cli_token("com.example.notes:ALL", None).await;
    let put = send(
        server
            .http()
            .put(server.url("/data/com.example.notes/n1"))
            .bearer_auth(&token)
            .json(&json!({"text": "hello"})),
    )
    .await;
    assert_eq!(put.status, StatusCode::CREATED, "{put}");

    // A live sync: longpoll from now, with a heartbeat (no timeout).
    let url = server.url("/data/com.example.notes/_changes?feed=longpoll&since=now&heartbeat=1000");
    let feed = server.http().get(url).bearer_auth(&token).send();
    let feed = tokio::spawn(async move {
        let resp = feed.await.expect("the feed answers");
        let status = resp.status();
        (
            status,
            resp.text().await.expect("the feed ends with a body"),
        )
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!feed.is_finished(), "a heartbeat keeps the longpoll open");

    let started = Instant::now();
    let status = server.terminate(Duration::from_secs(10)).await;
    let took = started.elapsed();
    let status = status.unwrap_or_else(|| {
        panic!(
            "nuage still runs 10 s after SIGTERM; its log:\n{}",
            server.log()
        )
    });
    assert!(
        status.success(),
        "nuage exits cleanly on SIGTERM: {status:?}\n{}",
        server.log()
    );
    assert!(took < Duration::from_secs(5), "shutdown took {took:?}");

    let (status, body) = tokio::time::timeout(Duration::from_secs(5), feed)
        .await
        .expect("the feed ended")
        .expect("feed task");
    assert_eq!(status, StatusCode::OK);
    let answer: Value = serde_json::from_str(body.trim())
        .unwrap_or_else(|e| panic!("a complete JSON answer ({e}): {body:?}"));
    assert_eq!(answer["results"], json!([]), "{answer}");
    assert_eq!(answer["last_seq"], json!(1), "{answer}");
}
