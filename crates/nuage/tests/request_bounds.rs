//! Every request's work is bounded, on both engines, whatever the body:
//! a replicated history of any length is stemmed before it costs a row
//! per revision, a selector is bounded as a whole, a `_find` without an
//! index examines a bounded number of documents, batches are counted while
//! they are read. Each scenario replays a hostile review's request.

mod common;

use std::time::{Duration, Instant};

use common::{Server, ids_of};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

scenarios!(
    a_replicated_history_of_100000_revisions_is_stemmed_at_once,
    a_reader_cannot_send_a_selector_of_thousands_of_regexes,
    a_find_that_no_index_answers_stops_after_10000_documents,
    batches_are_counted_before_they_are_kept,
    indexes_and_heartbeats_are_bounded,
    a_changes_feed_that_matches_nothing_stops_after_10000_changes_unless_it_is_a_normal_one,
);

configured_scenarios!(no_time_to_search, NO_TIME_TO_SEARCH =>
    with_no_time_to_search_a_normal_feed_answers_at_its_first_step,
);

/// The document service's time budgets, configured to nothing.
const NO_TIME_TO_SEARCH: &str = "[documents]\nchanges_search_secs = 0\nfind_budget_secs = 0\n";

const NOTES: &str = "com.example.notes";

fn path(rest: &str) -> String {
    format!("/data/{NOTES}/{rest}")
}

async fn a_replicated_history_of_100000_revisions_is_stemmed_at_once(server: Server) {
    let couch = server.couch(&format!("{NOTES}:ALL")).await;
    let n = 100_000;
    let ids: Vec<String> = (0..n).map(|i| format!("{i:032x}")).collect();
    let body = json!({"new_edits": false, "docs": [
        {"_id": "long", "v": 1, "_revisions": {"start": n, "ids": ids}}]});
    let t0 = Instant::now();
    let written = couch
        .post(&path("_bulk_docs"), &body)
        .await
        .json_ok(StatusCode::CREATED);
    let took = t0.elapsed();
    assert!(took < Duration::from_secs(30), "took {took:?}");
    assert_eq!(written, json!([]), "new_edits=false answers nothing");
    // The stored history is the doctype's revs limit (1,000 by default),
    // the newest revisions.
    let doc = couch
        .get_json(&path("long?revs=true"), StatusCode::OK)
        .await;
    assert_eq!(doc["_rev"], format!("{n}-{:032x}", 0));
    let kept = doc["_revisions"]["ids"].as_array().unwrap();
    assert_eq!(kept.len(), 1000, "{}", doc["_revisions"]["start"]);
    assert_eq!(kept[999], format!("{:032x}", 999));
    // The same history again is a no-op, and one more revision on top of
    // it is an ordinary write.
    let again = couch.post(&path("_bulk_docs"), &body).await;
    assert_eq!(again.status, StatusCode::CREATED, "{again}");
    let next = couch
        .put(&path("long"), &json!({"_rev": doc["_rev"], "v": 2}))
        .await
        .json_ok(StatusCode::CREATED);
    let doc = couch
        .get_json(&path("long?revs=true"), StatusCode::OK)
        .await;
    assert_eq!(doc["_rev"], next["rev"]);
    assert_eq!(doc["_revisions"]["ids"].as_array().unwrap().len(), 1000);
    // No doctype keeps more than 10,000 revisions of a branch.
    let refused = couch
        .send_raw(Method::PUT, &path("_revs_limit"), "10001")
        .await;
    let body: Value = serde_json::from_str(&refused.body).unwrap();
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["reason"].as_str().unwrap().contains("10000"), "{body}");
}

fn regex_or(n: usize, pattern: &str) -> Value {
    json!({"$or": (0..n).map(|i| json!({format!("f{i}"): {"$regex": pattern}})).collect::<Vec<_>>()})
}

async fn a_reader_cannot_send_a_selector_of_thousands_of_regexes(server: Server) {
    let owner = server.couch(&format!("{NOTES}:ALL")).await;
    owner.save(NOTES, "a", &json!({"f0": "x"})).await;
    let reader = server.couch(&format!("{NOTES}:GET")).await;
    let t0 = Instant::now();
    let body = reader
        .post(
            &path("_find"),
            &json!({"selector": regex_or(3000, "\\w{20}"), "limit": 1}),
        )
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_request");
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    assert!(
        body["reason"].as_str().unwrap().contains("at most"),
        "{body}"
    );
    // Sixteen regexes are fine, seventeen are not.
    let ok = reader
        .post(&path("_find"), &json!({"selector": regex_or(16, "^x")}))
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{ok}");
    reader
        .post(&path("_find"), &json!({"selector": regex_or(17, "^x")}))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_request");
    // One regex that compiles to megabytes is refused with a hint.
    let body = reader
        .post(
            &path("_find"),
            &json!({"selector": {"f0": {"$regex": "\\w{20}"}}}),
        )
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_request");
    assert!(body["reason"].as_str().unwrap().contains("(?-u)"), "{body}");
    // The same parser, the same bounds: _changes selector filters and
    // partial filters of indexes.
    reader
        .post(
            &path("_changes?filter=_selector"),
            &json!({"selector": regex_or(3000, "\\w{20}")}),
        )
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_request");
    owner
        .post(
            &path("_index"),
            &json!({"index": {"fields": ["f0"], "partial_filter_selector": regex_or(17, "^x")}}),
        )
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_request");
}

async fn a_find_that_no_index_answers_stops_after_10000_documents(server: Server) {
    let couch = server.couch(&format!("{NOTES}:ALL")).await;
    for batch in 0..2 {
        let docs: Vec<Value> = (0..5_001)
            .map(|i| json!({"_id": format!("d{batch}-{i:05}"), "n": i, "kind": "note"}))
            .collect();
        couch
            .post(&path("_bulk_docs"), &json!({"docs": docs}))
            .await
            .json_ok(StatusCode::CREATED);
    }
    // Matching nothing, no index: refused once 10,000 documents are read,
    // rather than answered with a short page that reads as the end.
    let body = couch
        .post(&path("_find"), &json!({"selector": {"missing": "x"}}))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_request");
    assert!(
        body["reason"].as_str().unwrap().contains("10000 documents"),
        "{body}"
    );
    // A page that fills early is answered, index or not.
    let found = couch
        .post(
            &path("_find"),
            &json!({"selector": {"kind": "note"}, "limit": 5}),
        )
        .await
        .json_ok(StatusCode::OK);
    assert_eq!(found["docs"].as_array().unwrap().len(), 5, "{found}");
    // With an index on the field, the same question reads no document.
    couch
        .post(&path("_index"), &json!({"index": {"fields": ["missing"]}}))
        .await
        .json_ok(StatusCode::OK);
    // (Built in the background past 5,000 documents; until then the
    // query scans, and is refused as above.)
    let t0 = Instant::now();
    let found = loop {
        let r = couch
            .post(&path("_find"), &json!({"selector": {"missing": "x"}}))
            .await;
        if r.status == StatusCode::OK || t0.elapsed() > Duration::from_secs(60) {
            break r.json_ok(StatusCode::OK);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(found["docs"], json!([]), "{found}");
}

async fn batches_are_counted_before_they_are_kept(server: Server) {
    let reader = server.couch(&format!("{NOTES}:GET")).await;
    let writer = server.couch(&format!("{NOTES}:ALL")).await;
    let many = |n: usize, item: &str| vec![item; n].join(",");
    let t0 = Instant::now();
    let body = format!("{{\"docs\":[{}]}}", many(2_000_000, "{}"));
    let refused = writer
        .send_raw(Method::POST, &path("_bulk_docs"), body)
        .await;
    assert_eq!(refused.status, StatusCode::PAYLOAD_TOO_LARGE, "{refused}");
    assert!(
        refused.body.contains("max_bulk_docs_count_exceeded"),
        "{refused}"
    );
    assert!(
        refused.body.contains("2000000"),
        "the count is exact: {refused}"
    );
    let body = format!("{{\"docs\":[{}]}}", many(1_000_000, r#"{"id":"a"}"#));
    let refused = reader
        .send_raw(Method::POST, &path("_bulk_get"), body)
        .await;
    assert_eq!(refused.status, StatusCode::PAYLOAD_TOO_LARGE, "{refused}");
    assert!(
        refused.body.contains("max_bulk_get_count_exceeded"),
        "{refused}"
    );
    assert!(t0.elapsed() < Duration::from_secs(20), "{:?}", t0.elapsed());
    // _revs_diff is bounded like _bulk_get: 10,000 revisions in all.
    let ids = |n: usize| {
        let m: serde_json::Map<String, Value> =
            (0..n).map(|i| (format!("{i:x}"), json!(["1-a"]))).collect();
        Value::Object(m)
    };
    let refused = reader.post(&path("_revs_diff"), &ids(10_001)).await;
    let body = refused.expect_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "max_revs_diff_count_exceeded",
    );
    assert!(body["reason"].as_str().unwrap().contains("10000"), "{body}");
    let diff = reader
        .post(&path("_revs_diff"), &ids(10_000))
        .await
        .json_ok(StatusCode::OK);
    assert_eq!(diff.as_object().unwrap().len(), 10_000);
}

async fn indexes_and_heartbeats_are_bounded(server: Server) {
    let couch = server.couch(&format!("{NOTES}:ALL")).await;
    let fields: Vec<String> = (0..10_000).map(|i| format!("f{i}")).collect();
    for index in [
        json!({"index": {"fields": fields}}),
        json!({"index": {"fields": [vec!["a"; 10_000].join(".")]}}),
        json!({"index": {"fields": ["a"]}, "name": "n".repeat(100_000)}),
    ] {
        let body = couch
            .post(&path("_index"), &index)
            .await
            .expect_error(StatusCode::BAD_REQUEST, "invalid_index");
        assert!(
            body["reason"].as_str().unwrap().contains("at most"),
            "{body}"
        );
    }
    // heartbeat=1 beats once a second, not a thousand times.
    let mut feed = couch
        .stream(&path("_changes?feed=continuous&since=now&heartbeat=1"))
        .await;
    let t0 = Instant::now();
    let mut beats = 0;
    while t0.elapsed() < Duration::from_millis(2_500) {
        assert_eq!(
            feed.next_line(Duration::from_secs(3)).await.as_deref(),
            Some("")
        );
        beats += 1;
    }
    assert!((2..=4).contains(&beats), "{beats} heartbeats in 2.5 s");
}

/// An app that may read only Bob's notes asks for the changes of a doctype
/// of 20,000 notes of Alice's: each answer leaves out at most
/// [`MAX_CHANGES_LEFT_OUT`] changes and ends with `last_seq` where it
/// stopped, so that going on from there reaches Bob's note, in a normal, a
/// longpoll or a continuous feed. The same for a selector or an id filter
/// that matches nothing.
async fn a_changes_feed_that_matches_nothing_stops_after_10000_changes_unless_it_is_a_normal_one(
    server: Server,
) {
    let bound = nuage_docs::MAX_CHANGES_LEFT_OUT as i64;
    let owner = server.couch(&format!("{NOTES}:ALL")).await;
    alices_notes(&owner, 4, 5_000).await;
    owner.save(NOTES, "bobs", &json!({"owner": "bob"})).await;
    let end = 2 * bound + 1;
    assert_eq!(owner.info(NOTES).await["update_seq"], end);
    let bob = server.couch(&format!("{NOTES}:GET:bob:owner")).await;

    // A normal feed that has found nothing yet reads on, a step of 10,000
    // changes at a time: a one-shot replicator takes an empty answer for
    // the end of the feed. So Bob gets his note in one answer, then
    // nothing more.
    let mut since = 0;
    let mut answers = Vec::new();
    loop {
        let page = bob.changes(NOTES, &format!("since={since}")).await;
        let last = page["last_seq"].as_i64().unwrap();
        answers.push((last, ids_of(&page["results"], "id")));
        if last == since {
            break;
        }
        since = last;
    }
    let bobs = || vec!["bobs".to_owned()];
    assert_eq!(answers, [(end, bobs()), (end, vec![])]);

    // A longpoll feed answers at the bound at once rather than reading on
    // (or waiting out its timeout); a continuous one goes on in steps.
    let started = Instant::now();
    let page = bob.changes(NOTES, "feed=longpoll&since=0").await;
    assert_eq!(page["last_seq"], bound, "{page}");
    assert_eq!(page["results"], json!([]));
    assert!(started.elapsed() < Duration::from_secs(30));
    let mut feed = bob
        .stream(&path("_changes?feed=continuous&since=0&timeout=60000"))
        .await;
    let row = feed.next_json(Duration::from_secs(30)).await;
    assert_eq!(row["id"], "bobs", "{row}");
    assert_eq!(row["seq"], end, "{row}");

    // Filters of a caller who sees everything are bounded the same way;
    // `pending` tells the client that more is to come.
    let nothing = json!({"selector": {"owner": "carol"}, "doc_ids": ["nope"]});
    for filter in ["_selector", "_doc_ids"] {
        let page = owner
            .post(
                &path(&format!("_changes?feed=longpoll&filter={filter}")),
                &nothing,
            )
            .await
            .json_ok(StatusCode::OK);
        assert_eq!(page["last_seq"], bound, "{filter}: {page}");
        assert_eq!(page["results"], json!([]), "{filter}: {page}");
        assert_eq!(page["pending"], end - bound, "{filter}: {page}");
    }
    // A feed that leaves nothing out is not cut.
    let all = owner.changes(NOTES, "since=0").await;
    assert_eq!(all["results"].as_array().unwrap().len() as i64, end);
    assert_eq!(all["last_seq"], end);
}

/// With no time to search (`documents.changes_search_secs = 0`), a normal
/// feed that found nothing answers at its first step of
/// [`MAX_CHANGES_LEFT_OUT`] changes, as a longpoll does: the next answer
/// goes on from there. (With the default 10 s, the test above gets Bob's
/// note in its first answer.) `_find` is bounded the same way by
/// `documents.find_budget_secs`.
async fn with_no_time_to_search_a_normal_feed_answers_at_its_first_step(server: Server) {
    let bound = nuage_docs::MAX_CHANGES_LEFT_OUT as i64;
    let owner = server.couch(&format!("{NOTES}:ALL")).await;
    alices_notes(&owner, 2, bound / 2).await;
    owner.save(NOTES, "bobs", &json!({"owner": "bob"})).await;
    let bob = server.couch(&format!("{NOTES}:GET:bob:owner")).await;
    let first = bob.changes(NOTES, "since=0").await;
    assert_eq!(first["last_seq"], bound, "{first}");
    assert_eq!(first["results"], json!([]), "{first}");
    let next = bob.changes(NOTES, &format!("since={bound}")).await;
    assert_eq!(next["last_seq"], bound + 1, "{next}");
    assert_eq!(ids_of(&next["results"], "id"), ["bobs"]);

    let refused = owner
        .post(&path("_find"), &json!({"selector": {"owner": "bob"}}))
        .await;
    let body = refused.expect_error(StatusCode::INTERNAL_SERVER_ERROR, "timeout");
    assert!(body["reason"].as_str().unwrap().contains("index"), "{body}");
}

/// `batches` × `each` notes of Alice's, written a batch at a time.
async fn alices_notes(owner: &common::Couch, batches: usize, each: i64) {
    for batch in 0..batches {
        let docs: Vec<Value> = (0..each)
            .map(|i| json!({"_id": format!("a{batch}-{i:05}"), "owner": "alice"}))
            .collect();
        owner
            .post(&path("_bulk_docs"), &json!({"docs": docs}))
            .await
            .json_ok(StatusCode::CREATED);
    }
}
