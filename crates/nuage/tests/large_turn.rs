//! What a large request holds while its body arrives — its instance's one
//! turn for large requests, and bytes of the server's body memory — it
//! holds only while it deserves them: a client that trickles its body
//! gives the turn back, bodies hold the memory of what they sent (not of
//! what they announced), and a credential revoked while its request waited
//! for the turn writes nothing. Each scenario replays a hostile review's
//! finding, on both engines.

mod common;

use common::{OTHER_HOST, Server, read_answer};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const NOTES: &str = "io.example.notes";

/// Generous bound on a wait that ends promptly once the server frees what
/// a slow body held (and only after minutes if it does not).
const PROMPTLY: Duration = Duration::from_secs(20);

/// A third instance, created by the scenario that needs it.
const THIRD_HOST: &str = "c.localhost";

/// 400 documents of ~300 bytes: a body well over the 64 KiB handled
/// inline, under the 1 MiB a body reserves ahead of what it sent.
fn big_batch(prefix: &str) -> Value {
    let docs: Vec<Value> = (0..400)
        .map(|i| json!({"_id": format!("{prefix}{i:04}"), "text": "x".repeat(280)}))
        .collect();
    json!({ "docs": docs })
}

/// Opens a `POST` of a body of `length` bytes to `path` on the instance at
/// `host`, and sends only `start` of it.
async fn begin_body(
    server: &Server,
    host: &str,
    token: &str,
    path: &str,
    length: usize,
    start: &[u8],
) -> TcpStream {
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n",
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    tcp.write_all(start).await.unwrap();
    tcp
}

/// Once a body holds its instance's turn (`holder` says which), the owner
/// posts a batch of 400 documents behind it; the batch's task.
async fn owner_batch_behind(
    server: &Server,
    owner: common::Couch,
    holder: &str,
    prefix: &'static str,
) -> tokio::task::JoinHandle<common::Reply> {
    server
        .until_metric("nuage_large_request_instances", 1.0, holder)
        .await;
    tokio::spawn(async move {
        owner
            .post(&format!("/data/{NOTES}/_bulk_docs"), &big_batch(prefix))
            .await
    })
}

/// The owner's batch, written in full within [`PROMPTLY`].
async fn owner_batch_written(server: &Server, write: tokio::task::JoinHandle<common::Reply>) {
    let written = tokio::time::timeout(PROMPTLY, write)
        .await
        .unwrap_or_else(|_| panic!("the owner's batch still waits\n{}", server.log()))
        .unwrap()
        .json_ok(StatusCode::CREATED);
    assert_eq!(written.as_array().unwrap().len(), 400);
}

/// A large body must keep up 1 KiB/s after 3 s here.
const IMPATIENT: &str =
    "[connections]\nlarge_body_grace_secs = 3\nlarge_body_min_bytes_per_sec = 1024\n";
/// A large body must keep up 1 MiB/s after 2 s here.
const STRICT: &str =
    "[connections]\nlarge_body_grace_secs = 2\nlarge_body_min_bytes_per_sec = 1048576\n";
/// No minimum rate: slow bodies hold on for as long as the deadline allows.
const PATIENT: &str = "[connections]\nlarge_body_min_bytes_per_sec = 0\n";

configured_scenarios!(impatient, IMPATIENT =>
    a_client_trickling_a_large_body_gives_its_instances_turn_back,
    a_client_that_sent_fast_then_stalls_gives_its_instances_turn_back,
);
configured_scenarios!(strict, STRICT => a_slow_body_nobody_waits_behind_is_not_cut);
configured_scenarios!(patient_in_4_mib, PATIENT_IN_4_MIB => slow_bodies_hold_the_memory_of_what_they_sent_not_of_what_they_announced);
configured_scenarios!(patient, PATIENT => an_app_password_revoked_while_its_large_write_waits_writes_nothing);

/// An app that may only read sends a `_find` of 200 KB a byte every
/// 200 ms: it holds its instance's one turn for large requests, and the
/// owner's batch waits behind it. Once its grace is over the app is told
/// to send faster, and the owner's batch goes on at once, not after the
/// body deadline (5 minutes).
async fn a_client_trickling_a_large_body_gives_its_instances_turn_back(server: Server) {
    let reader = server.cli_token(&format!("{NOTES}:GET"), None).await;
    let owner = server.couch(&format!("{NOTES}:ALL")).await;
    let slow = begin_body(
        &server,
        &server.domain,
        &reader,
        &format!("/data/{NOTES}/_find"),
        200_000,
        b"{",
    )
    .await;
    let (mut from_slow, mut to_slow) = slow.into_split();
    let trickle = tokio::spawn(async move {
        while to_slow.write_all(b" ").await.is_ok() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let write = owner_batch_behind(
        &server,
        owner,
        "the trickled body takes its instance's turn",
        "n",
    )
    .await;
    server
        .until_metric(
            "nuage_large_requests_waiting",
            1.0,
            "the owner's batch waits behind the trickled body",
        )
        .await;
    let refused = read_answer(&mut from_slow).await;
    assert!(refused.starts_with("HTTP/1.1 408"), "{refused}");
    assert!(
        refused.contains("\"error\":\"request_timeout\""),
        "{refused}"
    );
    assert!(refused.contains("1 KiB/s or more"), "{refused}");
    assert!(
        refused.to_ascii_lowercase().contains("connection: close"),
        "{refused}"
    );
    owner_batch_written(&server, write).await;
    trickle.abort();
    server.assert_healthy().await;
}

/// Bytes sent fast buy no right to stall: an app sends the first MiB of
/// a 2 MB `_find` at once (at 1 KiB/s that would earn it 17 minutes) and
/// then stops. With the owner's batch waiting, it is refused once it has
/// paused for the grace (3 s here), not at the body deadline.
async fn a_client_that_sent_fast_then_stalls_gives_its_instances_turn_back(server: Server) {
    let reader = server.cli_token(&format!("{NOTES}:GET"), None).await;
    let owner = server.couch(&format!("{NOTES}:ALL")).await;
    let mut start = b"{".to_vec();
    start.resize(MIB, b' ');
    let stalled = begin_body(
        &server,
        &server.domain,
        &reader,
        &format!("/data/{NOTES}/_find"),
        2 * MIB,
        &start,
    )
    .await;
    let (mut from_stalled, _to_stalled) = stalled.into_split();
    let write = owner_batch_behind(
        &server,
        owner,
        "the stalled body takes its instance's turn",
        "s",
    )
    .await;
    let refused = tokio::time::timeout(PROMPTLY, read_answer(&mut from_stalled))
        .await
        .unwrap_or_else(|_| panic!("the stalled body still holds the turn\n{}", server.log()));
    assert!(refused.starts_with("HTTP/1.1 408"), "{refused}");
    owner_batch_written(&server, write).await;
    server.assert_healthy().await;
}

/// A phone on a poor network: its batch pauses longer than the grace (2 s
/// here) in the middle, far below the minimum rate (1 MiB/s here), while
/// no other large request of its instance waits. Nobody is held up, so it
/// is not cut.
async fn a_slow_body_nobody_waits_behind_is_not_cut(server: Server) {
    let owner = server.couch(&format!("{NOTES}:ALL")).await;
    let mut body = br#"{"docs":[{"_id":"slow","text":"from a phone"}]}"#.to_vec();
    body.resize(100_000, b' ');
    let phone = begin_body(
        &server,
        &server.domain,
        &owner.token,
        &format!("/data/{NOTES}/_bulk_docs"),
        body.len(),
        &body[..70_000],
    )
    .await;
    let (mut from_phone, mut to_phone) = phone.into_split();
    server
        .until_metric(
            "nuage_large_request_instances",
            1.0,
            "the phone's batch takes its instance's turn",
        )
        .await;
    // The pause is the scenario: longer than the grace, with nothing to
    // wait on but the clock.
    tokio::time::sleep(Duration::from_secs(4)).await;
    to_phone.write_all(&body[70_000..]).await.unwrap();
    let answer = read_answer(&mut from_phone).await;
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    assert!(answer.contains("\"id\":\"slow\""), "{answer}");
    server.assert_healthy().await;
}

const MIB: usize = 1024 * 1024;

/// No minimum rate, and 4 MiB of body memory.
const PATIENT_IN_4_MIB: &str =
    "[connections]\nlarge_body_min_bytes_per_sec = 0\nlarge_bodies_memory_bytes = 4194304\n";

/// Two instances each announce a body of 2 MiB and send only its first
/// 64 KiB (as four instances announcing 64 MiB would against the default
/// 256 MiB): together they announced the whole budget of body memory, but
/// hold only a step ahead of what they sent, and a third instance's large
/// batch is served meanwhile.
async fn slow_bodies_hold_the_memory_of_what_they_sent_not_of_what_they_announced(server: Server) {
    server.add_instance(OTHER_HOST).await;
    server.add_instance(THIRD_HOST).await;
    let scope = format!("{NOTES}:ALL");
    let other = format!("{OTHER_HOST}:{}", server.addr.port());
    let mut slow = Vec::new();
    for (domain, host) in [
        (&server.domain, &server.domain),
        (&OTHER_HOST.into(), &other),
    ] {
        let token = server.cli_token_on(domain, &scope, None).await;
        let mut start = b"{\"docs\":[{\"text\":\"".to_vec();
        start.resize(64 * 1024, b'x');
        let path = format!("/data/{NOTES}/_bulk_docs");
        slow.push(begin_body(&server, host, &token, &path, 2 * MIB, &start).await);
    }
    server
        .until_metric(
            "nuage_large_request_instances",
            2.0,
            "both slow bodies take their instances' turns",
        )
        .await;
    server
        .until_metric(
            "nuage_large_body_bytes_reserved",
            (2 * MIB) as f64,
            "both slow bodies hold body memory",
        )
        .await;
    let third = server.cli_token_on(THIRD_HOST, &scope, None).await;
    let third = server.couch_on(THIRD_HOST, &third);
    let written = tokio::time::timeout(
        PROMPTLY,
        third.post(&format!("/data/{NOTES}/_bulk_docs"), &big_batch("c")),
    )
    .await
    .unwrap_or_else(|_| panic!("the third instance's batch waits for body memory"))
    .json_ok(StatusCode::CREATED);
    assert_eq!(written.as_array().unwrap().len(), 400);
    // Each slow body holds a MiB: what it sent, and the rest of the step.
    assert_eq!(
        server.metric("nuage_large_body_bytes_reserved").await,
        (2 * MIB) as f64
    );
    drop(slow);
    server.assert_healthy().await;
}

/// Alice's old phone pushes a large batch while her laptop's upload holds
/// the instance's turn; she revokes the phone's app password before the
/// turn comes. When it does, the phone is refused as any request with a
/// revoked password is, and nothing of its batch is written.
async fn an_app_password_revoked_while_its_large_write_waits_writes_nothing(server: Server) {
    let alice = server.onboard_owner().await;
    let phone = server
        .app_password(&server.domain, "old phone", &format!("{NOTES}:ALL"))
        .await;
    let laptop_token = server.cli_token(&format!("{NOTES}:ALL"), None).await;
    let laptop = server.couch_with(&laptop_token);
    let upload = begin_body(
        &server,
        &server.domain,
        &laptop_token,
        &format!("/data/{NOTES}/_bulk_docs"),
        MIB,
        b"{\"docs\":[",
    )
    .await;
    server
        .until_metric(
            "nuage_large_request_instances",
            1.0,
            "the laptop's upload takes the turn",
        )
        .await;
    let push = server
        .http()
        .post(server.url(&format!("/data/{NOTES}/_bulk_docs")))
        .basic_auth("alice", Some(&phone))
        .json(&big_batch("p"))
        .send();
    let push = tokio::spawn(async move {
        let reply = push.await.expect("the push is answered");
        (reply.status(), reply.text().await.unwrap_or_default())
    });
    server
        .until_metric(
            "nuage_large_requests_waiting",
            1.0,
            "the phone's push waits for the turn",
        )
        .await;
    alice.revoke_the_only_app_password().await;
    // The laptop gives up its upload: the turn is the phone's.
    drop(upload);
    let (status, text) = tokio::time::timeout(PROMPTLY, push)
        .await
        .expect("the phone's push is answered once the turn is free")
        .unwrap();
    let start: String = text.chars().take(300).collect();
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{start}");
    assert!(text.contains("\"error\":\"unauthorized\""), "{text}");
    assert_eq!(laptop.info(NOTES).await["doc_count"], 0, "nothing written");
    // As a fresh request with the password is refused.
    let fresh = server
        .http()
        .get(server.url(&format!("/data/{NOTES}")))
        .basic_auth("alice", Some(&phone))
        .send()
        .await
        .unwrap();
    assert_eq!(fresh.status(), StatusCode::UNAUTHORIZED);
}
