//! What a limited or hostile credential cannot do through `/data`, on both
//! engines: define indexes or code for the whole doctype through a design
//! document, fill the disk through `_local` documents, or make the two
//! engines answer the same input differently.

mod common;

use common::{Server, send};
use reqwest::StatusCode;
use serde_json::json;

scenarios!(
    a_selector_limited_token_defines_no_index_by_any_route,
    local_documents_are_bounded_for_read_only_credentials,
    a_nul_character_gets_the_same_answer_on_both_engines,
    a_nul_character_in_what_a_client_reads_gets_the_same_answer_on_both_engines,
    a_long_indexed_value_gets_the_same_answer_on_both_engines,
    a_read_only_credential_cannot_create_doctypes_without_end,
);

const NOTES: &str = "com.example.notes";

async fn a_selector_limited_token_defines_no_index_by_any_route(server: Server) {
    let app = server.couch(&format!("{NOTES}:ALL:work:folder")).await;
    let ddoc = json!({"folder": "work", "language": "query", "views": {"by-text": {
        "map": {"fields": {"text": "asc"}}, "reduce": "_count",
        "options": {"def": {"fields": ["text"]}}}}});
    let refused = app
        .put(&format!("/data/{NOTES}/_design/sneaky"), &ddoc)
        .await;
    let body = refused.expect_error(StatusCode::FORBIDDEN, "forbidden");
    assert!(body["reason"].as_str().unwrap().contains(NOTES), "{body}");
    let bulk = app
        .post(
            &format!("/data/{NOTES}/_bulk_docs"),
            &json!({"docs": [{"_id": "_design/sneaky2", "folder": "work", "language": "query"}]}),
        )
        .await
        .json_ok(StatusCode::CREATED);
    assert_eq!(bulk[0]["error"], "forbidden", "{bulk}");
    app.post(
        &format!("/data/{NOTES}/_index"),
        &json!({"index": {"fields": ["text"]}}),
    )
    .await
    .expect_error(StatusCode::FORBIDDEN, "forbidden");
    // Its own documents it still writes.
    let ok = app
        .put(&format!("/data/{NOTES}/w1"), &json!({"folder": "work"}))
        .await;
    assert_eq!(ok.status, StatusCode::CREATED, "{ok}");
    let owner = server.couch(&format!("{NOTES}:ALL")).await;
    let all = owner
        .get_json(&format!("/data/{NOTES}/_all_docs"), StatusCode::OK)
        .await;
    assert_eq!(
        all["total_rows"], 1,
        "no design document was written: {all}"
    );
}

async fn local_documents_are_bounded_for_read_only_credentials(server: Server) {
    let reader = server.couch(&format!("{NOTES}:GET")).await;
    // A checkpoint is fine, and can be updated for ever.
    let put = reader
        .put(
            &format!("/data/{NOTES}/_local/checkpoint"),
            &json!({"last_seq": 1}),
        )
        .await
        .json_ok(StatusCode::CREATED);
    let mut rev = put["rev"].as_str().unwrap().to_owned();
    for i in 0..3 {
        let again = reader
            .put(
                &format!("/data/{NOTES}/_local/checkpoint"),
                &json!({"last_seq": i, "_rev": rev}),
            )
            .await
            .json_ok(StatusCode::CREATED);
        rev = again["rev"].as_str().unwrap().to_owned();
    }
    // A huge one is refused, in CouchDB's shape.
    let big = "x".repeat(100_000);
    let refused = reader
        .put(
            &format!("/data/{NOTES}/_local/huge"),
            &json!({"history": big}),
        )
        .await;
    let body = refused.expect_error(StatusCode::PAYLOAD_TOO_LARGE, "document_too_large");
    assert!(body["reason"].as_str().unwrap().contains("65536"), "{body}");
    // Many are refused past the reader's allowance, with what to do.
    let mut created = 1;
    let last = loop {
        let r = reader
            .put(
                &format!("/data/{NOTES}/_local/c{created}"),
                &json!({"last_seq": 1}),
            )
            .await;
        if r.status != StatusCode::CREATED || created > 200 {
            break r;
        }
        created += 1;
    };
    assert_eq!(
        created, 100,
        "a reader creates 100 _local documents at most"
    );
    let body = last.expect_error(StatusCode::FORBIDDEN, "forbidden");
    assert!(
        body["reason"].as_str().unwrap().contains("delete old"),
        "{body}"
    );
    // Naming a revision does not make a new document an update: with the
    // rev in the query string or in the body, it is still refused.
    let by_query = reader
        .put(
            &format!("/data/{NOTES}/_local/sneaky?rev=0-1"),
            &json!({"last_seq": 1}),
        )
        .await;
    by_query.expect_error(StatusCode::FORBIDDEN, "forbidden");
    let by_body = reader
        .put(
            &format!("/data/{NOTES}/_local/sneaky"),
            &json!({"_rev": "0-7", "last_seq": 1}),
        )
        .await;
    by_body.expect_error(StatusCode::FORBIDDEN, "forbidden");
    // An update of one it holds still works.
    let again = reader
        .put(
            &format!("/data/{NOTES}/_local/checkpoint"),
            &json!({"last_seq": 9, "_rev": rev}),
        )
        .await;
    assert_eq!(again.status, StatusCode::CREATED, "{again}");
    // Ids are bounded too.
    let long = reader
        .put(
            &format!("/data/{NOTES}/_local/{}", "i".repeat(10_000)),
            &json!({}),
        )
        .await;
    long.expect_error(StatusCode::BAD_REQUEST, "illegal_docid");
    // The owner is not held to the reader's allowance.
    let owner = server.couch(&format!("{NOTES}:ALL")).await;
    let ok = owner
        .put(&format!("/data/{NOTES}/_local/mine"), &json!({"a": 1}))
        .await;
    assert_eq!(ok.status, StatusCode::CREATED, "{ok}");
}

async fn a_nul_character_gets_the_same_answer_on_both_engines(server: Server) {
    let owner = server.couch(&format!("{NOTES}:ALL")).await;
    let idx = owner
        .post(
            &format!("/data/{NOTES}/_index"),
            &json!({"index": {"fields": ["text"]}}),
        )
        .await;
    assert_eq!(idx.status, StatusCode::OK, "{idx}");
    // In a field, even an indexed one, it is data like any other.
    let saved = owner
        .put(
            &format!("/data/{NOTES}/n1"),
            &json!({"text": "a\u{0}b", "other": "\u{0}"}),
        )
        .await;
    assert_eq!(saved.status, StatusCode::CREATED, "{saved}");
    assert_eq!(owner.doc(NOTES, "n1").await["text"], "a\u{0}b");
    let found = owner
        .post(
            &format!("/data/{NOTES}/_find"),
            &json!({"selector": {"text": "a\u{0}b"}}),
        )
        .await
        .json_ok(StatusCode::OK);
    assert_eq!(found["docs"][0]["_id"], "n1", "{found}");
    // In an id, refused before anything is written, and a batch carrying
    // it keeps its other documents.
    let bulk = owner
        .post(
            &format!("/data/{NOTES}/_bulk_docs"),
            &json!({"docs": [{"_id": "bad\u{0}id"}, {"_id": "fine"}]}),
        )
        .await;
    assert!(
        bulk.status == StatusCode::BAD_REQUEST || bulk.status == StatusCode::CREATED,
        "{bulk}"
    );
    assert!(bulk.to_string().contains("illegal_docid"), "{bulk}");
    let ids = owner.all_doc_ids(NOTES, "").await;
    assert!(ids.iter().all(|id| !id.contains('\u{0}')), "{ids:?}");
    let r = send(
        owner
            .request(reqwest::Method::PUT, &format!("/data/{NOTES}/_local/x%00y"))
            .json(&json!({})),
    )
    .await;
    r.expect_error(StatusCode::BAD_REQUEST, "illegal_docid");
}

/// Reads name ids too: a NUL there must not reach PostgreSQL, which
/// cannot hold it in text and fails the statement (a 500 where SQLite says
/// "missing").
async fn a_nul_character_in_what_a_client_reads_gets_the_same_answer_on_both_engines(
    server: Server,
) {
    let owner = server.couch(&format!("{NOTES}:ALL")).await;
    owner.save(NOTES, "n1", &json!({"text": "x"})).await;
    for path in [
        "/n%00",
        "/n%00?revs=true",
        "/n%00?open_revs=all",
        "/_local/x%00y",
        "/_design/a%00b",
        "/n1/att%00",
    ] {
        let r = owner.get(&format!("/data/{NOTES}{path}")).await;
        r.expect_error(StatusCode::NOT_FOUND, "not_found");
    }
    let r = owner
        .delete(&format!("/data/{NOTES}/_local/x%00y?rev=0-1"))
        .await;
    r.expect_error(StatusCode::NOT_FOUND, "not_found");
    let r = owner.delete(&format!("/data/{NOTES}/n%00?rev=1-abc")).await;
    assert!(
        r.status == StatusCode::NOT_FOUND || r.status == StatusCode::BAD_REQUEST,
        "{r}"
    );
    let keys = owner
        .post(
            &format!("/data/{NOTES}/_all_docs"),
            &json!({"keys": ["n1", "n\u{0}"]}),
        )
        .await
        .json_ok(StatusCode::OK);
    assert_eq!(keys["rows"][0]["id"], "n1", "{keys}");
    assert_eq!(keys["rows"][1]["error"], "not_found", "{keys}");
    let r = owner
        .get(&format!("/data/{NOTES}/_all_docs?startkey=%22n%5Cu0000%22"))
        .await
        .json_ok(StatusCode::OK);
    assert_eq!(r["rows"][0]["id"], "n1", "{r}");
    let r = owner
        .post(
            &format!("/data/{NOTES}/_bulk_get"),
            &json!({"docs": [{"id": "n\u{0}"}]}),
        )
        .await
        .json_ok(StatusCode::OK);
    assert_eq!(
        r["results"][0]["docs"][0]["error"]["error"], "not_found",
        "{r}"
    );
    let r = owner
        .post(
            &format!("/data/{NOTES}/_revs_diff"),
            &json!({"n\u{0}": ["1-abc"]}),
        )
        .await
        .json_ok(StatusCode::OK);
    assert_eq!(r["n\u{0}"]["missing"][0], "1-abc", "{r}");
    let r = owner
        .post(
            &format!("/data/{NOTES}/_find"),
            &json!({"selector": {"_id": {"$gt": "n\u{0}"}}}),
        )
        .await
        .json_ok(StatusCode::OK);
    assert_eq!(r["docs"][0]["_id"], "n1", "{r}");
    // A bookmark is the client's too (URL-safe base64 of its JSON), and
    // through an index as through `_all_docs` order.
    owner
        .post(
            &format!("/data/{NOTES}/_index"),
            &json!({"index": {"fields": ["text"]}, "ddoc": "by-text"}),
        )
        .await
        .json_ok(StatusCode::OK);
    for (key, index) in [(json!([]), "_all_docs"), (json!(["x"]), "by-text")] {
        let mark = serde_json::to_string(&json!({"id": "n\u{0}", "key": key, "v": 1})).unwrap();
        let mark = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, mark);
        let r = owner
            .post(
                &format!("/data/{NOTES}/_find"),
                &json!({"selector": {"text": "x"}, "bookmark": mark, "use_index": index}),
            )
            .await
            .json_ok(StatusCode::OK);
        assert_eq!(r["docs"][0]["_id"], "n1", "{r}");
    }
    // A limited credential's batch looks up the documents it names first.
    let limited = server.couch(&format!("{NOTES}:ALL:x:text")).await;
    let bulk = limited
        .post(
            &format!("/data/{NOTES}/_bulk_docs"),
            &json!({"docs": [{"_id": "bad\u{0}id", "text": "x"}, {"_id": "fine", "text": "x"}]}),
        )
        .await;
    assert!(
        bulk.status == StatusCode::BAD_REQUEST || bulk.status == StatusCode::CREATED,
        "{bulk}"
    );
    assert!(bulk.to_string().contains("illegal_docid"), "{bulk}");
}

/// A value no engine's index can hold as it is: PostgreSQL's B-tree takes
/// at most 2,704 bytes per row, SQLite has no such bound. Writing it, or
/// indexing it afterwards, must answer the same on both engines, and the
/// document must still be found through the index, page after page.
async fn a_long_indexed_value_gets_the_same_answer_on_both_engines(server: Server) {
    let owner = server.couch(&format!("{NOTES}:ALL")).await;
    // Random enough that no compression brings it under a page's third;
    // starts with `x`.
    let long: String = (0..20_000u64)
        .map(|i| {
            let x = i
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407)
                >> 33;
            char::from(b'a' + (x % 26) as u8)
        })
        .collect();
    assert!(long.starts_with('x'));
    let find = |selector: serde_json::Value, index: &str, bookmark: Option<String>| {
        let mut body = json!({"selector": selector, "use_index": index, "fields": ["_id"],
                              "limit": 1});
        if let Some(b) = bookmark {
            body["bookmark"] = json!(b);
        }
        let owner = &owner;
        async move {
            let r = owner
                .post(&format!("/data/{NOTES}/_find"), &body)
                .await
                .json_ok(StatusCode::OK);
            assert!(r.get("warning").is_none(), "{}", r["warning"]);
            let ids: Vec<String> = r["docs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["_id"].as_str().unwrap().to_owned())
                .collect();
            (ids, r["bookmark"].as_str().unwrap().to_owned())
        }
    };
    // Every document the selector matches, a page of one at a time.
    let all = |selector: serde_json::Value, index: &'static str| {
        let find = &find;
        async move {
            let (mut ids, mut mark) = (Vec::new(), None);
            loop {
                let (page, next) = find(selector.clone(), index, mark).await;
                if page.is_empty() {
                    return ids;
                }
                ids.extend(page);
                mark = Some(next);
            }
        }
    };
    let idx = owner
        .post(
            &format!("/data/{NOTES}/_index"),
            &json!({"index": {"fields": ["text"]}, "ddoc": "by-text"}),
        )
        .await;
    assert_eq!(idx.status, StatusCode::OK, "{idx}");
    let saved = owner
        .put(&format!("/data/{NOTES}/long"), &json!({"text": long}))
        .await;
    assert_eq!(saved.status, StatusCode::CREATED, "{saved}");
    owner.save(NOTES, "short", &json!({"text": "b"})).await;
    // Values sharing a long start, in the opposite order of their ids.
    for (id, end) in [("v1", "d"), ("v2", "c"), ("v3", "b"), ("v4", "a")] {
        owner
            .save(NOTES, id, &json!({"text": format!("{long}{end}")}))
            .await;
    }
    let ids = all(json!({"text": {"$gt": "a"}}), "by-text").await;
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(sorted, ["long", "short", "v1", "v2", "v3", "v4"], "{ids:?}");
    assert_eq!(ids[0], "short", "{ids:?}");
    let (ids, _) = find(json!({"text": long}), "by-text", None).await;
    assert_eq!(ids, ["long"]);
    let (ids, _) = find(json!({"text": format!("{long}c")}), "by-text", None).await;
    assert_eq!(ids, ["v2"]);
    // An index defined after the documents exist is built over them too.
    let idx = owner
        .post(
            &format!("/data/{NOTES}/_index"),
            &json!({"index": {"fields": ["text", "_id"]}, "ddoc": "by-text-id"}),
        )
        .await;
    assert_eq!(idx.status, StatusCode::OK, "{idx}");
    let ids = all(json!({"text": {"$gt": long}}), "by-text-id").await;
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(sorted, ["v1", "v2", "v3", "v4"], "{ids:?}");
}

/// A `_local` checkpoint creates the doctype it names, for a credential
/// that may only read: a doctype costs disk no quota counts, and each write
/// of an instance with a quota sums over its doctypes. So an instance holds
/// at most `MAX_DOCTYPES`, however they are created; existing ones stay
/// writable, and deleting one makes room.
async fn a_read_only_credential_cannot_create_doctypes_without_end(server: Server) {
    let max = nuage_store::MAX_DOCTYPES;
    let reader = server.couch("io.example.*:GET").await;
    let owner = server.couch("io.example.*:ALL").await;
    owner
        .save("io.example.kept", "k", &json!({"text": "x"}))
        .await;
    for i in 1..max {
        let r = reader
            .put(
                &format!("/data/io.example.d{i}/_local/checkpoint"),
                &json!({}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "doctype {i}: {r}");
    }
    // The instance holds `max`: the next one is refused, whoever asks.
    let r = reader
        .put(
            &format!("/data/io.example.d{max}/_local/checkpoint"),
            &json!({}),
        )
        .await;
    let body = r.expect_error(StatusCode::FORBIDDEN, "forbidden");
    assert!(
        body["reason"].as_str().unwrap().contains("DELETE"),
        "{body}"
    );
    owner
        .put(&format!("/data/io.example.d{max}"), &json!({}))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    owner
        .put(&format!("/data/io.example.d{max}/doc"), &json!({}))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    // What exists stays writable, and a deletion makes room.
    owner
        .save("io.example.kept", "k2", &json!({"text": "y"}))
        .await;
    let all = owner
        .get("/data/_all_doctypes")
        .await
        .json_ok(StatusCode::OK);
    assert_eq!(
        all.as_array().unwrap().len() as i64,
        max,
        "{}",
        all.as_array().unwrap().len()
    );
    owner
        .delete("/data/io.example.d1")
        .await
        .json_ok(StatusCode::OK);
    let r = reader
        .put(
            &format!("/data/io.example.d{max}/_local/checkpoint"),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r}");
}
