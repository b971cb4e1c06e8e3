//! Listing a big doctype with `_all_docs`, on both engines: the answer is
//! streamed (read from the store a page at a time and sent as it is read,
//! never assembled whole), yet it is the one CouchDB gives, row for row;
//! `keys` are bounded; and a token limited to some notes pages through
//! those notes alone.

mod common;

use common::{Server, ids_of};
use reqwest::Method;
use reqwest::StatusCode;
use serde_json::{Value, json};

scenarios!(
    twenty_thousand_notes_stream_in_id_order_with_their_bodies,
    a_limited_token_pages_through_its_own_notes_only,
    a_million_keys_are_refused_while_counted,
);

const NOTES: &str = "com.example.notes";
const COUNT: usize = 20_000;

fn path(rest: &str) -> String {
    format!("/data/{NOTES}/{rest}")
}

fn note_id(i: usize) -> String {
    format!("n{i:05}")
}

async fn twenty_thousand_notes_stream_in_id_order_with_their_bodies(server: Server) {
    let couch = server.couch(&format!("{NOTES}:ALL")).await;
    // Written in a shuffled order: the listing's order is the ids'.
    for batch in 0..COUNT / 1000 {
        let docs: Vec<Value> = (0..1000)
            .map(|j| {
                let i = j * (COUNT / 1000) + batch;
                json!({"_id": note_id(i), "n": i})
            })
            .collect();
        couch
            .post(&path("_bulk_docs"), &json!({ "docs": docs }))
            .await
            .expect_status(StatusCode::CREATED);
    }

    let reply = couch.get(&path("_all_docs?include_docs=true")).await;
    assert!(
        reply.header("content-length").is_none()
            && reply.header("transfer-encoding").as_deref() == Some("chunked"),
        "the answer is streamed, not held whole to be measured: {:?}",
        reply.headers
    );
    assert!(reply.is_json(), "{:?}", reply.headers);
    let all = reply.json_ok(StatusCode::OK);
    assert_eq!(
        (&all["total_rows"], &all["offset"]),
        (&json!(COUNT), &json!(0))
    );
    let rows = all["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), COUNT);
    for (i, row) in rows.iter().enumerate() {
        let id = note_id(i);
        assert_eq!(
            (
                &row["id"],
                &row["key"],
                &row["doc"]["_id"],
                &row["doc"]["n"]
            ),
            (&json!(id), &json!(id), &json!(id), &json!(i)),
            "row {i}"
        );
        assert_eq!(row["value"]["rev"], row["doc"]["_rev"], "row {i}");
    }

    // Ranges and pages over the same notes.
    let cases: [(&str, Vec<String>); 4] = [
        ("skip=19997", (19997..COUNT).map(note_id).collect()),
        (
            "descending=true&limit=3",
            vec![note_id(19999), note_id(19998), note_id(19997)],
        ),
        ("key=\"n00042\"", vec![note_id(42)]),
        (
            "startkey=\"n09999\"&endkey=\"n10002\"&inclusive_end=false",
            (9999..10002).map(note_id).collect(),
        ),
    ];
    for (query, expected) in cases {
        assert_eq!(couch.all_doc_ids(NOTES, query).await, expected, "?{query}");
    }
    let deep = couch
        .get_json(&path("_all_docs?skip=19999"), StatusCode::OK)
        .await;
    assert_eq!(
        (&deep["offset"], &deep["total_rows"]),
        (&json!(19999), &json!(COUNT))
    );
    let none = couch
        .get_json(&path("_all_docs?limit=0"), StatusCode::OK)
        .await;
    assert_eq!(none, json!({"total_rows": COUNT, "offset": 0, "rows": []}));

    // Given keys: at most 10,000 in one request, refused as a whole past it.
    let keys: Vec<String> = (0..10_000).map(note_id).collect();
    let found = couch
        .post(&path("_all_docs"), &json!({ "keys": keys }))
        .await
        .json_ok(StatusCode::OK);
    assert_eq!(found["rows"].as_array().map(Vec::len), Some(10_000));
    assert_eq!(found["rows"][9999]["id"], note_id(9999));
    let too_many: Vec<String> = (0..10_001).map(note_id).collect();
    let refused = couch
        .post(&path("_all_docs"), &json!({ "keys": too_many }))
        .await
        .expect_error(StatusCode::PAYLOAD_TOO_LARGE, "max_keys_count_exceeded");
    assert!(
        refused["reason"].as_str().unwrap().contains("10000"),
        "{refused}"
    );
    server.assert_healthy().await;
}

async fn a_limited_token_pages_through_its_own_notes_only(server: Server) {
    let owner = server.couch(&format!("{NOTES}:ALL")).await;
    // `0-secret` sorts first, `ab` between the two notes the token may read.
    for id in ["0-secret", "a", "ab", "b", "c"] {
        owner.save(NOTES, id, &json!({"text": id})).await;
    }
    let app = server.couch(&format!("{NOTES}:GET:a,b")).await;

    assert_eq!(app.all_doc_ids(NOTES, "").await, ["a", "b"]);
    // `limit` and `skip` count what it may read: the notes of others do not
    // shorten its pages, nor show where they are.
    assert_eq!(app.all_doc_ids(NOTES, "limit=1").await, ["a"]);
    assert_eq!(app.all_doc_ids(NOTES, "skip=1").await, ["b"]);
    assert_eq!(
        app.all_doc_ids(NOTES, "descending=true&limit=1").await,
        ["b"]
    );
    let page = app
        .get_json(&path("_all_docs?skip=1&include_docs=true"), StatusCode::OK)
        .await;
    assert_eq!(ids_of(&page["rows"], "id"), ["b"]);
    assert_eq!(page["rows"][0]["doc"]["text"], "b");
    assert_eq!(page["total_rows"], 1, "a count of what it was sent: {page}");
    assert_eq!(page["offset"], 1, "{page}");
    assert!(!page.to_string().contains("secret"), "{page}");
}

/// A body of a million short keys (4 MB, well under the body limit) is
/// refused as too many keys: counted while parsed, at most 10,000 kept
/// (nuage-couch `batch.rs`), however many the body holds.
async fn a_million_keys_are_refused_while_counted(server: Server) {
    let couch = server.couch(&format!("{NOTES}:GET")).await;
    let body = format!("{{\"keys\":[{}]}}", vec!["\"k\""; 1_000_000].join(","));
    let refused = couch
        .send_raw(Method::POST, &path("_all_docs"), body)
        .await
        .expect_error(StatusCode::PAYLOAD_TOO_LARGE, "max_keys_count_exceeded");
    let reason = refused["reason"].as_str().unwrap();
    assert!(
        reason.contains("10000") && reason.contains("1000000"),
        "{refused}"
    );
    server.assert_healthy().await;
}
