//! Mallory holds connections open without finishing her requests, hoping
//! to use up the server's sockets and keep everyone else out: a request
//! head or body that does not arrive in time loses its connection, and one
//! address may hold only so many connections at once.

mod common;

use common::{Engine, Server};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Generous bound on any wait here: every wait ends on an event (a closed
/// connection, an answer) long before it.
const BOUND: Duration = Duration::from_secs(20);

const TIGHT: &str = "[connections]\nheader_timeout_secs = 1\nbody_deadline_secs = 1\n";
const FOUR_PER_ADDRESS: &str = "[connections]\nmax_per_address = 4\n";

/// Reads until the server closes the connection; what it sent.
async fn until_closed(tcp: &mut TcpStream, what: &str) -> String {
    let mut got = Vec::new();
    match tokio::time::timeout(BOUND, tcp.read_to_end(&mut got)).await {
        Ok(_) => String::from_utf8_lossy(&got).into_owned(),
        Err(_) => panic!("{what}: the server kept the connection open for {BOUND:?}"),
    }
}

#[tokio::test]
async fn a_request_head_that_never_ends_loses_its_connection() {
    let server = Server::start_configured(Engine::Sqlite, TIGHT).await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(b"GET /status HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
        .await
        .unwrap();
    let answer = until_closed(&mut tcp, "a head left unfinished").await;
    assert!(!answer.contains("200 OK"), "{answer}");
    server.assert_healthy().await;
}

#[tokio::test]
async fn a_body_that_never_arrives_is_refused_in_couchdbs_shape() {
    let server = Server::start_configured(Engine::Sqlite, TIGHT).await;
    let token = server.cli_token("io.example.notes:ALL", None).await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "PUT /data/io.example.notes/n1 HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{{\"a\":",
        server.domain
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let answer = until_closed(&mut tcp, "a body left unfinished").await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("\"error\":\"bad_request\""), "{answer}");
    assert!(answer.contains("did not arrive within 1 s"), "{answer}");
    // Nothing was written.
    let couch = server.couch("io.example.notes:ALL").await;
    assert_eq!(
        couch.get("/data/io.example.notes/n1").await.status,
        reqwest::StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn one_address_holds_only_so_many_connections() {
    let server = Server::start_configured(Engine::Sqlite, FOUR_PER_ADDRESS).await;
    let status = format!("GET /status HTTP/1.1\r\nHost: {}\r\n\r\n", server.domain);
    // Four connections (the limit) that say nothing yet.
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(TcpStream::connect(server.addr).await.unwrap());
    }
    // A fifth from the same address is closed unanswered.
    let mut fifth = TcpStream::connect(server.addr).await.unwrap();
    let _ = fifth.write_all(status.as_bytes()).await;
    let answer = until_closed(&mut fifth, "a fifth connection").await;
    assert_eq!(answer, "", "the fifth connection was served");
    // The four are served.
    for tcp in &mut held {
        tcp.write_all(status.as_bytes()).await.unwrap();
        let mut buf = [0u8; 12];
        tokio::time::timeout(BOUND, tcp.read_exact(&mut buf))
            .await
            .expect("an answer on a held connection")
            .unwrap();
        assert_eq!(&buf, b"HTTP/1.1 200");
    }
    // One of the four goes: a new connection is served again.
    drop(held.pop());
    let served = async {
        loop {
            if let Ok(r) = server.http().get(server.url("/status")).send().await
                && r.status().is_success()
            {
                return;
            }
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(BOUND, served)
        .await
        .expect("a connection is served once one of the four has closed");
}
