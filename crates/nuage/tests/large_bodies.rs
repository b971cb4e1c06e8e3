//! Large bodies take their instance's turn and run on the low-priority
//! share threads (`nuage_docs::share`): a body announced over the limit is
//! refused before a byte of it is sent, an unauthenticated one before it is
//! read, and a large batch from an authenticated caller is handled as any
//! other, with the caller's own permissions.

mod common;

use common::{Server, answer_until_closed, read_answer};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

scenarios!(
    a_body_announced_over_the_limit_is_refused_before_it_is_sent,
    an_unauthenticated_large_body_is_refused_before_it_is_read,
    a_large_batch_is_written_with_the_callers_permissions,
    a_client_sending_a_large_body_with_a_dead_token_is_told_so,
    a_body_too_large_is_refused_while_its_instance_is_busy,
);

const NOTES: &str = "io.example.notes";

/// Generous bound on any wait here: every wait ends on an answer long
/// before it.
const BOUND: Duration = Duration::from_secs(20);

/// Sends only a request head, then reads the server's whole answer (its
/// head, and a body of its `Content-Length`).
async fn answer_to_head(server: &Server, head: &str) -> String {
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(head.as_bytes()).await.unwrap();
    read_answer(&mut tcp).await
}

/// Waits until the server reports an instance holding (or waiting for)
/// its turn for a large request.
async fn until_a_turn_is_taken(server: &Server) {
    server
        .until_metric(
            "nuage_large_request_instances",
            1.0,
            "a large request takes its instance's turn",
        )
        .await;
}

async fn a_body_announced_over_the_limit_is_refused_before_it_is_sent(server: Server) {
    let token = server.cli_token(&format!("{NOTES}:ALL"), None).await;
    let head = format!(
        "POST /data/{NOTES}/_bulk_docs HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        server.domain,
        80 * 1024 * 1024
    );
    let answer = answer_to_head(&server, &head).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("\"error\":\"too_large\""), "{answer}");
    assert!(answer.contains("smaller _bulk_docs batches"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    // A client that waits for `100 Continue` is never told to send, and
    // its connection closes at once: nothing of the body is to be read.
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    let head = head.replace("\r\n\r\n", "\r\nExpect: 100-continue\r\n\r\n");
    tcp.write_all(head.as_bytes()).await.unwrap();
    let answer = answer_until_closed(&mut tcp).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(!answer.contains("100 Continue"), "{answer}");
    server.assert_healthy().await;
}

async fn an_unauthenticated_large_body_is_refused_before_it_is_read(server: Server) {
    let head = format!(
        "POST /data/{NOTES}/_bulk_docs HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer nope\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        server.domain,
        1024 * 1024
    );
    let answer = answer_to_head(&server, &head).await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(answer.contains("\"error\":\"unauthorized\""), "{answer}");
}

/// 400 documents of ~300 bytes: a body well over the 64 KiB handled inline.
fn big_batch() -> Value {
    let docs: Vec<Value> = (0..400)
        .map(|i| json!({"_id": format!("n{i:04}"), "text": "x".repeat(280)}))
        .collect();
    json!({ "docs": docs })
}

async fn a_large_batch_is_written_with_the_callers_permissions(server: Server) {
    let body = big_batch();
    assert!(body.to_string().len() > 100 * 1024);
    // A reader may not write, large body or not.
    let reader = server.couch(&format!("{NOTES}:GET")).await;
    let refused = reader
        .post(&format!("/data/{NOTES}/_bulk_docs"), &body)
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{refused}");
    // The owner's batch is written whole, and its answer lists every
    // document.
    let owner = server.couch(&format!("{NOTES}:ALL")).await;
    let written = owner
        .post(&format!("/data/{NOTES}/_bulk_docs"), &body)
        .await
        .json_ok(StatusCode::CREATED);
    let written = written.as_array().unwrap();
    assert_eq!(written.len(), 400);
    assert!(written.iter().all(|r| r["ok"] == true), "{written:?}");
    assert_eq!(owner.info(NOTES).await["doc_count"], 400);
    // The same large body through the reader's token after the write:
    // still refused, nothing changed.
    let again = reader
        .post(&format!("/data/{NOTES}/_bulk_docs"), &body)
        .await;
    assert_eq!(again.status, StatusCode::FORBIDDEN, "{again}");
    assert_eq!(owner.info(NOTES).await["doc_count"], 400);
}

/// The server-wide budget of body memory (`connections.large_bodies_memory_bytes`):
/// a chunked body that outgrows it is refused as the server being busy,
/// in CouchDB's shape and with `Retry-After`; the bytes it held go back,
/// so bodies that fit are then served. (The budget is the server's, not
/// the engine's: SQLite alone.)
#[tokio::test]
async fn a_chunked_body_past_the_servers_body_memory_is_refused_as_busy() {
    let server = common::Server::start_configured(
        common::Engine::Sqlite,
        "[connections]\nlarge_bodies_memory_bytes = 1048576\n",
    )
    .await;
    let token = server.cli_token(&format!("{NOTES}:ALL"), None).await;
    // A valid batch of about 2 MiB, sent in chunks of 64 KiB.
    let docs: Vec<Value> = (0..2000)
        .map(|i| json!({"_id": format!("c{i:04}"), "text": "x".repeat(1100)}))
        .collect();
    let body = json!({ "docs": docs }).to_string();
    assert!(body.len() > 2 * 1024 * 1024);
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST /data/{NOTES}/_bulk_docs HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        server.domain
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    for chunk in body.as_bytes().chunks(64 * 1024) {
        tcp.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .await
            .unwrap();
        tcp.write_all(chunk).await.unwrap();
        tcp.write_all(b"\r\n").await.unwrap();
    }
    tcp.write_all(b"0\r\n\r\n").await.unwrap();
    let answer = answer_until_closed(&mut tcp).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.contains("\"error\":\"service_unavailable\""),
        "{answer}"
    );
    assert!(answer.contains("send this one again"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: 5"),
        "{answer}"
    );
    let owner = server.couch(&format!("{NOTES}:ALL")).await;
    assert_eq!(
        owner.info(NOTES).await["doc_count"],
        0,
        "nothing of it written"
    );
    // A body of announced length waits for its bytes instead, and one
    // that fits is served: the refused body's bytes came back.
    let written = owner
        .post(&format!("/data/{NOTES}/_bulk_docs"), &big_batch())
        .await
        .json_ok(StatusCode::CREATED);
    assert_eq!(written.as_array().unwrap().len(), 400);
    server.assert_healthy().await;
}

/// A replicator whose access token has expired (or was revoked) pushes a
/// large batch: it must read the 401 that tells it to refresh its token,
/// not lose the answer to a connection reset because the server closed the
/// connection with the body still unread.
async fn a_client_sending_a_large_body_with_a_dead_token_is_told_so(server: Server) {
    let body = vec![b' '; 8 * 1024 * 1024];
    for attempt in 0..5 {
        let sent = server
            .http()
            .post(server.url(&format!("/data/{NOTES}/_bulk_docs")))
            .bearer_auth("nat_expired")
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await;
        let reply = match sent {
            Ok(r) => r,
            Err(e) => panic!("attempt {attempt}: the answer was lost: {e:?}"),
        };
        assert_eq!(
            reply.status(),
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}"
        );
        let text = reply.text().await.unwrap();
        assert!(text.contains("\"error\":\"unauthorized\""), "{text}");
    }
    server.assert_healthy().await;
}

/// Three seconds for a whole body, so that a slow one gives up its turn soon.
const THREE_SECONDS: &str = "[connections]\nbody_deadline_secs = 3\n";

configured_scenarios!(three_seconds, THREE_SECONDS => a_large_request_queued_behind_a_slow_one_keeps_its_whole_deadline);

/// An app that may only read another doctype sends a large body a byte
/// at a time: it holds the instance's turn until its own deadline. The
/// owner's upload, waiting meanwhile, must then have its whole deadline to
/// send its body, not what the wait left of it (a client cannot send what
/// the server does not read).
async fn a_large_request_queued_behind_a_slow_one_keeps_its_whole_deadline(server: Server) {
    let app = server.cli_token("io.example.other:GET", None).await;
    let owner = server.cli_token(&format!("{NOTES}:ALL"), None).await;
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST /data/io.example.other/_all_docs HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {app}\r\n\
         Content-Type: application/json\r\nContent-Length: 200000\r\n\r\n{{",
        server.domain
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    let trickle = tokio::spawn(async move {
        while slow.write_all(b" ").await.is_ok() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    until_a_turn_is_taken(&server).await;
    // The owner's client sends 12 MiB at about 12 MiB/s (more than the
    // kernel buffers while the server does not read): well within the
    // deadline, once the server reads it.
    let size = 12 * 1024 * 1024;
    let mut upload = TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "PUT /data/{NOTES}/photo/big.bin HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {owner}\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: {size}\r\n\
         Connection: close\r\n\r\n",
        server.domain
    );
    upload.write_all(head.as_bytes()).await.unwrap();
    let (mut from_server, mut to_server) = upload.into_split();
    // The write half stays open until the answer is read: the server takes
    // a half-closed connection for a client gone away.
    let send = async move {
        for _ in 0..size / (256 * 1024) {
            if to_server.write_all(&[7u8; 256 * 1024]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        to_server
    };
    let read = async {
        let mut got = Vec::new();
        tokio::time::timeout(BOUND, from_server.read_to_end(&mut got))
            .await
            .expect("the upload is answered")
            .unwrap();
        got
    };
    let (_to_server, got) = tokio::join!(send, read);
    let answer = String::from_utf8_lossy(&got);
    assert!(
        answer.starts_with("HTTP/1.1 201"),
        "{answer}\n{}",
        server.log()
    );
    trickle.abort();
}

/// A body announced too large is refused at once, even while its
/// instance's turn is held by another large request (here one whose body
/// never ends): the refusal does not queue behind the instance's own work.
async fn a_body_too_large_is_refused_while_its_instance_is_busy(server: Server) {
    let token = server.cli_token(&format!("{NOTES}:ALL"), None).await;
    let post = |length: usize| {
        format!(
            "POST /data/{NOTES}/_bulk_docs HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n",
            server.domain
        )
    };
    // The turn's holder: a large body of which only the start is sent.
    let mut holder = TcpStream::connect(server.addr).await.unwrap();
    holder
        .write_all(format!("{}{{\"docs\":[", post(1024 * 1024)).as_bytes())
        .await
        .unwrap();
    until_a_turn_is_taken(&server).await;
    let answer = answer_to_head(&server, &post(80 * 1024 * 1024)).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("\"error\":\"too_large\""), "{answer}");
    drop(holder);
    server.assert_healthy().await;
}
