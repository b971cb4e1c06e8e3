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

/// `nuage serve` runs with glibc's allocator set for a server (large blocks
/// returned when freed: `src/allocator.rs`), in the process the operator
/// started.
#[tokio::test]
async fn the_server_runs_with_the_allocators_settings() {
    if !cfg!(all(target_os = "linux", target_env = "gnu")) {
        return;
    }
    let server = Server::start(Engine::Sqlite).await;
    let environ = std::fs::read(format!("/proc/{}/environ", server.pid())).unwrap();
    let environ = String::from_utf8_lossy(&environ);
    let setting = "GLIBC_TUNABLES=glibc.malloc.mmap_threshold=1048576";
    assert!(environ.contains(setting), "{setting} in {environ}");
    server.assert_healthy().await;
}
