//! A big standalone attachment (`PUT /data/{doctype}/{id}/{name}`) costs
//! the server about its own size in memory, not a copy per step (body,
//! base64, digest, blob): measured as the process's peak resident memory.
//! Before the copies went, the peak grew by 232 MB (3.7 times the body);
//! now by about the body's size.

mod common;

use common::{Engine, Server};
use reqwest::{Method, StatusCode};

const MIB: usize = 1 << 20;
const SIZE: usize = 60 * MIB;

#[tokio::test]
async fn a_60_mib_attachment_costs_less_than_twice_its_size() {
    let server = Server::start_configured(
        Engine::Sqlite,
        &format!("body_limit_bytes = {}\n", SIZE + MIB),
    )
    .await;
    let couch = server.couch("com.example.files:ALL").await;
    let before = server.peak_memory();
    let body: Vec<u8> = (0..SIZE).map(|i| (i % 251) as u8).collect();
    let r = couch
        .request(Method::PUT, "/data/com.example.files/big/big.bin")
        .header("content-type", "application/octet-stream")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{}",
        r.text().await.unwrap()
    );
    let peak = server.peak_memory();
    eprintln!(
        "peak memory: {} MB before, {} MB after a {} MiB attachment",
        before / 1_000_000,
        peak / 1_000_000,
        SIZE / MIB
    );
    assert!(
        peak < before + 2 * SIZE as u64,
        "the server peaked at {} MB for a {} MB attachment (from {} MB)",
        peak / 1_000_000,
        SIZE / 1_000_000,
        before / 1_000_000
    );
    let got = couch
        .request(Method::GET, "/data/com.example.files/big/big.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), StatusCode::OK);
    assert_eq!(got.bytes().await.unwrap().len(), SIZE);
}
