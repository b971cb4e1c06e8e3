//! An instance's storage quota holds on every write path — documents,
//! attachments, `_local` documents — on both engines, with an error that
//! names the quota and what uses it; deleting frees room again, and a
//! neighbour without a quota is not affected.

mod common;

use base64::Engine as _;
use common::{OTHER_HOST, Server};
use reqwest::StatusCode;
use serde_json::json;

scenarios!(a_full_cloud_refuses_writes_until_something_is_deleted);

const NOTES: &str = "com.example.notes";

async fn a_full_cloud_refuses_writes_until_something_is_deleted(server: Server) {
    // Bob's cloud has 200 kB.
    server
        .cli_ok(&["instance", "add", OTHER_HOST, "--quota", "200000"])
        .await;
    let token = server
        .cli_token_on(OTHER_HOST, &format!("{NOTES}:ALL"), None)
        .await;
    let bob = server.couch_on(OTHER_HOST, &token);
    let text = "x".repeat(20_000);
    let mut written = Vec::new();
    let refused = loop {
        let id = format!("n{}", written.len());
        let r = bob
            .put(&format!("/data/{NOTES}/{id}"), &json!({"text": text}))
            .await;
        if r.status != StatusCode::CREATED {
            break r;
        }
        written.push((
            id,
            r.json_ok(StatusCode::CREATED)["rev"]
                .as_str()
                .unwrap()
                .to_owned(),
        ));
        assert!(written.len() < 20, "a 200 kB quota took 400 kB");
    };
    assert!(
        (8..=10).contains(&written.len()),
        "{} notes of 20 kB fit",
        written.len()
    );
    let body = refused.expect_error(StatusCode::PAYLOAD_TOO_LARGE, "quota_exceeded");
    let reason = body["reason"].as_str().unwrap();
    for part in ["200.0 kB", NOTES, "delete", "administrator"] {
        assert!(reason.contains(part), "the refusal says `{part}`: {reason}");
    }
    // The same through every other door: a batch, an attachment (refused
    // before its content is stored), a _local document.
    let batch = bob
        .post(
            &format!("/data/{NOTES}/_bulk_docs"),
            &json!({"docs": [{"_id": "b1", "text": text}, {"_id": "b2", "text": text}]}),
        )
        .await;
    // A batch is judged document by document, as CouchDB answers a
    // document it refuses: each gets its own error, in a 201.
    let results = batch.json_ok(StatusCode::CREATED);
    let results = results.as_array().expect("one result per document");
    assert_eq!(results.len(), 2, "{results:?}");
    for (r, id) in results.iter().zip(["b1", "b2"]) {
        assert_eq!(r["id"], id, "{r}");
        assert_eq!(r["error"], "quota_exceeded", "{r}");
        assert!(r["reason"].as_str().unwrap().contains("200.0 kB"), "{r}");
    }
    let picture = base64::engine::general_purpose::STANDARD.encode(vec![7u8; 60_000]);
    let att = bob
        .put(
            &format!("/data/{NOTES}/photo"),
            &json!({"_attachments": {"p.png": {"content_type": "image/png", "data": picture}}}),
        )
        .await;
    att.expect_error(StatusCode::PAYLOAD_TOO_LARGE, "quota_exceeded");
    let local = bob
        .put(
            &format!("/data/{NOTES}/_local/big"),
            &json!({"history": "y".repeat(40_000)}),
        )
        .await;
    local.expect_error(StatusCode::PAYLOAD_TOO_LARGE, "quota_exceeded");
    let ids = bob.all_doc_ids(NOTES, "").await;
    assert_eq!(
        ids.len(),
        written.len(),
        "nothing refused was written: {ids:?}"
    );

    // Deleting two notes makes room for one more; an edit that shrinks a
    // note always passes.
    for (id, rev) in written.iter().take(2) {
        bob.remove(NOTES, id, rev).await;
    }
    let again = bob
        .put(&format!("/data/{NOTES}/after"), &json!({"text": text}))
        .await;
    assert_eq!(again.status, StatusCode::CREATED, "{again}");
    let (id, rev) = &written[2];
    let shrink = bob
        .put(
            &format!("/data/{NOTES}/{id}"),
            &json!({"_rev": rev, "text": "short"}),
        )
        .await;
    assert_eq!(shrink.status, StatusCode::CREATED, "{shrink}");

    // Alice's cloud, on the same server and without a quota, is untouched.
    let alice = server.couch(&format!("{NOTES}:ALL")).await;
    for i in 0..15 {
        alice
            .save(NOTES, &format!("a{i}"), &json!({"text": text}))
            .await;
    }
}
