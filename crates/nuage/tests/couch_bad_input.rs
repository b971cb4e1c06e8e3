//! Mallory's script sends the document API everything CouchDB refuses:
//! broken JSON, reserved ids, unknown special members, stale revisions,
//! oversized documents, malformed selectors, names and revisions. Each is
//! answered with CouchDB's status and `{"error","reason"}` body, and none
//! changes anything: the doctype's `update_seq` and `doc_count` and every
//! document's revision tree are the same before and after.
//!
//! Each scenario checks every request and then reports every difference
//! from CouchDB it found, so one difference does not hide the next. Where
//! CouchDB's answer is subtle, the CouchDB 3 source that produces it is
//! cited (`src/couch/src/couch_doc.erl`, `src/chttpd/src/chttpd.erl`,
//! `src/couch/src/couch_changes.erl`, `src/mango/src/mango_error.erl`).

mod common;

use common::{Couch, DocState, Reply, Server};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

scenarios!(
    broken_json_is_a_bad_request,
    ids_starting_with_an_underscore_are_reserved,
    unknown_special_members_fail_validation,
    a_stale_revision_is_a_conflict_and_the_rest_of_the_batch_is_written,
    a_document_over_8_mib_is_too_large,
    malformed_selectors_names_and_revisions_are_bad_requests,
    an_oversized_body_a_path_not_in_utf8_and_a_wrong_method_get_couchdb_json,
);

const NOTES: &str = "com.example.notes";
/// `couch_doc:validate_docid/1` throws `{illegal_docid, …}` for these, which
/// `chttpd:error_info/1` answers as 400 `illegal_docid`.
const RESERVED: &str = "Only reserved document ids may start with underscore.";
const CONFLICT: &str = "Document update conflict.";
const INVALID_REV: &str = "Invalid rev format";

/// Alice's notes before Mallory starts, read back with her token.
struct Alice {
    couch: Couch,
    /// The revision of her note `groceries`.
    rev: String,
}

async fn alice_has_a_note(server: &Server) -> Alice {
    let couch = server.couch(&format!("{NOTES}:ALL")).await;
    let rev = couch
        .save(
            NOTES,
            "groceries",
            &json!({"title": "groceries", "items": ["eggs"]}),
        )
        .await;
    Alice { couch, rev }
}

impl Alice {
    /// Everything a refused write could have changed: the counters, her
    /// note, and the ids Mallory tries to create.
    async fn state(&self) -> DocState {
        self.couch
            .state(NOTES, &["groceries", "_foo", "fine", "also-fine", "big"])
            .await
    }
}

/// What a scenario found different from CouchDB.
#[derive(Default)]
struct Findings(Vec<String>);

impl Findings {
    /// The refusal CouchDB gives: `status`, a JSON body
    /// `{"error": error, "reason"}` whose reason is `reason` when given,
    /// non-empty otherwise.
    fn refused(&mut self, reply: Reply, status: StatusCode, error: &str, reason: Option<&str>) {
        let body: Value = serde_json::from_str(&reply.body).unwrap_or(Value::Null);
        let reason_ok = match reason {
            Some(r) => body["reason"] == r,
            None => body["reason"].as_str().is_some_and(|r| !r.is_empty()),
        };
        if reply.status != status || !reply.is_json() || body["error"] != error || !reason_ok {
            let reason = reason.map_or("…".to_owned(), |r| format!("{r:?}"));
            self.0.push(format!(
                "CouchDB answers {status} {{\"error\":\"{error}\",\"reason\":{reason}}}; nuage: {reply}"
            ));
        }
    }

    /// Nothing changed since `before`.
    async fn unchanged(&mut self, alice: &Alice, before: &DocState, after_what: &str) {
        let after = alice.state().await;
        if after != *before {
            self.0.push(format!(
                "{after_what}, the data changed:\nbefore: {before:?}\nafter:  {after:?}"
            ));
        }
    }

    fn assert_none(self) {
        assert!(
            self.0.is_empty(),
            "{} difference(s) from CouchDB:\n\n{}",
            self.0.len(),
            self.0.join("\n\n")
        );
    }
}

async fn broken_json_is_a_bad_request(server: Server) {
    let alice = alice_has_a_note(&server).await;
    let before = alice.state().await;
    let mut found = Findings::default();
    let broken = r#"{"title": "groceries", "items": ["#;

    for (method, path) in [
        (Method::PUT, format!("/data/{NOTES}/groceries")),
        (Method::POST, format!("/data/{NOTES}/")),
        (Method::POST, format!("/data/{NOTES}/_bulk_docs")),
        (Method::POST, format!("/data/{NOTES}/_all_docs")),
        (Method::POST, format!("/data/{NOTES}/_revs_diff")),
    ] {
        let reply = alice.couch.send_raw(method, &path, broken).await;
        found.refused(reply, StatusCode::BAD_REQUEST, "bad_request", None);
        found
            .unchanged(&alice, &before, &format!("after broken JSON to {path}"))
            .await;
    }
    // JSON, but not a document (`couch_doc:from_json_obj/2`).
    let reply = alice
        .couch
        .send_raw(Method::PUT, &format!("/data/{NOTES}/groceries"), "[1, 2]")
        .await;
    found.refused(
        reply,
        StatusCode::BAD_REQUEST,
        "bad_request",
        Some("Document must be a JSON object"),
    );
    found.unchanged(&alice, &before, "after an array").await;
    found.assert_none();
}

async fn ids_starting_with_an_underscore_are_reserved(server: Server) {
    let alice = alice_has_a_note(&server).await;
    let before = alice.state().await;
    let mut found = Findings::default();

    let reply = alice
        .couch
        .put(&format!("/data/{NOTES}/_foo"), &json!({"title": "sneaky"}))
        .await;
    found.refused(
        reply,
        StatusCode::BAD_REQUEST,
        "illegal_docid",
        Some(RESERVED),
    );
    found.unchanged(&alice, &before, "after PUT /_foo").await;

    let reply = alice
        .couch
        .post(
            &format!("/data/{NOTES}/"),
            &json!({"_id": "_foo", "title": "sneaky"}),
        )
        .await;
    found.refused(
        reply,
        StatusCode::BAD_REQUEST,
        "illegal_docid",
        Some(RESERVED),
    );
    found
        .unchanged(&alice, &before, "after POST with _id _foo")
        .await;

    // `chttpd_db` parses every document of `_bulk_docs`
    // (`couch_doc:from_json_obj_validate/2`) before writing any: one
    // reserved id refuses the whole request.
    let reply = alice
        .couch
        .post(
            &format!("/data/{NOTES}/_bulk_docs"),
            &json!({"docs": [{"_id": "fine", "n": 1}, {"_id": "_foo", "n": 2}]}),
        )
        .await;
    found.refused(
        reply,
        StatusCode::BAD_REQUEST,
        "illegal_docid",
        Some(RESERVED),
    );
    found
        .unchanged(&alice, &before, "after a batch with a reserved id")
        .await;
    found.assert_none();

    // The reserved prefixes themselves are fine.
    alice
        .couch
        .save(NOTES, "_design/ok", &json!({"language": "query"}))
        .await;
}

async fn unknown_special_members_fail_validation(server: Server) {
    let alice = alice_has_a_note(&server).await;
    let before = alice.state().await;
    let mut found = Findings::default();
    // `couch_doc:transfer_fields/3`, the unknown special field clause.
    let reason = Some("Bad special document member: _foo");

    let reply = alice
        .couch
        .put(
            &format!("/data/{NOTES}/groceries"),
            &json!({"_rev": alice.rev, "title": "groceries", "_foo": 1}),
        )
        .await;
    found.refused(reply, StatusCode::BAD_REQUEST, "doc_validation", reason);
    found
        .unchanged(&alice, &before, "after an update with _foo")
        .await;

    let reply = alice
        .couch
        .put(&format!("/data/{NOTES}/fine"), &json!({"_foo": 1}))
        .await;
    found.refused(reply, StatusCode::BAD_REQUEST, "doc_validation", reason);
    found
        .unchanged(&alice, &before, "after a creation with _foo")
        .await;

    // Validated before anything is written, as reserved ids are.
    let reply = alice
        .couch
        .post(
            &format!("/data/{NOTES}/_bulk_docs"),
            &json!({"docs": [{"_id": "fine"}, {"_id": "also-fine", "_foo": 1}]}),
        )
        .await;
    found.refused(reply, StatusCode::BAD_REQUEST, "doc_validation", reason);
    found
        .unchanged(&alice, &before, "after a batch with _foo")
        .await;
    found.assert_none();
}

async fn a_stale_revision_is_a_conflict_and_the_rest_of_the_batch_is_written(server: Server) {
    let alice = alice_has_a_note(&server).await;
    let stale = alice.rev.clone();
    let current = alice
        .couch
        .save(
            NOTES,
            "groceries",
            &json!({"_rev": stale, "title": "groceries", "items": ["eggs", "milk"]}),
        )
        .await;
    let before = alice.state().await;
    let mut found = Findings::default();
    let conflict = Some(CONFLICT);

    // Bob's phone still holds the first revision.
    let reply = alice
        .couch
        .put(
            &format!("/data/{NOTES}/groceries"),
            &json!({"_rev": stale, "title": "groceries", "items": ["bread"]}),
        )
        .await;
    found.refused(reply, StatusCode::CONFLICT, "conflict", conflict);
    found
        .unchanged(&alice, &before, "after a stale _rev in the body")
        .await;

    let reply = alice
        .couch
        .put(
            &format!("/data/{NOTES}/groceries?rev={stale}"),
            &json!({"title": "groceries"}),
        )
        .await;
    found.refused(reply, StatusCode::CONFLICT, "conflict", conflict);
    found
        .unchanged(&alice, &before, "after a stale ?rev=")
        .await;

    let reply = alice
        .couch
        .put(
            &format!("/data/{NOTES}/groceries"),
            &json!({"title": "new"}),
        )
        .await;
    found.refused(reply, StatusCode::CONFLICT, "conflict", conflict);
    found
        .unchanged(&alice, &before, "after an update without _rev")
        .await;

    let reply = alice
        .couch
        .delete(&format!("/data/{NOTES}/groceries?rev={stale}"))
        .await;
    found.refused(reply, StatusCode::CONFLICT, "conflict", conflict);
    found
        .unchanged(&alice, &before, "after a stale DELETE")
        .await;
    found.assert_none();

    // A batch of only conflicts writes nothing.
    let reply = alice
        .couch
        .post(
            &format!("/data/{NOTES}/_bulk_docs"),
            &json!({"docs": [{"_id": "groceries", "_rev": stale, "items": []}]}),
        )
        .await;
    let results = reply.json_ok(StatusCode::CREATED);
    assert_eq!(
        results,
        json!([{"id": "groceries", "error": "conflict", "reason": CONFLICT}])
    );
    assert_eq!(alice.state().await, before, "after a batch of one conflict");

    // A batch with one conflict: the others are written, in order, each
    // with its own sequence number; the conflicting one reports it.
    let reply = alice
        .couch
        .post(
            &format!("/data/{NOTES}/_bulk_docs"),
            &json!({"docs": [
                {"_id": "fine", "n": 1},
                {"_id": "groceries", "_rev": stale, "items": []},
                {"_id": "also-fine", "n": 2},
            ]}),
        )
        .await;
    let results = reply.json_ok(StatusCode::CREATED);
    let results = results.as_array().expect("an array of results");
    assert_eq!(results.len(), 3, "{results:?}");
    for (i, id) in [(0, "fine"), (2, "also-fine")] {
        assert_eq!(results[i]["ok"], true, "{results:?}");
        assert_eq!(results[i]["id"], id, "{results:?}");
        assert!(
            results[i]["rev"]
                .as_str()
                .is_some_and(|r| r.starts_with("1-")),
            "{results:?}"
        );
    }
    assert_eq!(
        results[1],
        json!({"id": "groceries", "error": "conflict", "reason": CONFLICT})
    );
    let after = alice.state().await;
    assert_eq!(
        after.update_seq,
        json!(before.update_seq.as_i64().expect("a number") + 2),
        "two documents written, two new sequence numbers"
    );
    assert_eq!(after.doc_count, json!(3));
    assert_eq!(
        after.docs[0], before.docs[0],
        "the conflicting note is as it was"
    );
    assert_eq!(alice.couch.doc(NOTES, "groceries").await["_rev"], current);
    assert_eq!(alice.couch.doc(NOTES, "fine").await["n"], 1);
    assert_eq!(alice.couch.doc(NOTES, "also-fine").await["n"], 2);
}

async fn a_document_over_8_mib_is_too_large(server: Server) {
    let alice = alice_has_a_note(&server).await;
    let before = alice.state().await;
    let mut found = Findings::default();
    // About 9 MB of JSON: over CouchDB's default `max_document_size` of
    // 8 MiB, under the 64 MiB request limit of `/data`. CouchDB throws
    // `{request_entity_too_large, DocId}`: 413 `document_too_large`.
    let huge = "x".repeat(9_000_000);

    let reply = alice
        .couch
        .put(&format!("/data/{NOTES}/big"), &json!({"text": huge}))
        .await;
    found.refused(
        reply,
        StatusCode::PAYLOAD_TOO_LARGE,
        "document_too_large",
        None,
    );
    found
        .unchanged(&alice, &before, "after a huge creation")
        .await;

    let reply = alice
        .couch
        .put(
            &format!("/data/{NOTES}/groceries"),
            &json!({"_rev": alice.rev, "title": "groceries", "text": huge}),
        )
        .await;
    found.refused(
        reply,
        StatusCode::PAYLOAD_TOO_LARGE,
        "document_too_large",
        None,
    );
    found
        .unchanged(&alice, &before, "after a huge update")
        .await;
    found.assert_none();

    // Just under the limit is fine.
    let rev = alice
        .couch
        .save(
            NOTES,
            "big",
            &json!({"text": "x".repeat(8 * 1024 * 1024 - 100)}),
        )
        .await;
    assert!(rev.starts_with("1-"));
    server.assert_healthy().await;
}

async fn malformed_selectors_names_and_revisions_are_bad_requests(server: Server) {
    let alice = alice_has_a_note(&server).await;
    let before = alice.state().await;
    let mut found = Findings::default();
    let bad_selector = json!({"selector": {"title": {"$foo": 1}}});
    let invalid_operator = Some("Invalid operator: $foo");

    // `couch_changes:check_selector/1` turns Mango's error into
    // `{bad_request, Reason}`: 400 `bad_request`, "Invalid operator: $foo".
    let reply = alice
        .couch
        .post(
            &format!("/data/{NOTES}/_changes?filter=_selector"),
            &bad_selector,
        )
        .await;
    found.refused(
        reply,
        StatusCode::BAD_REQUEST,
        "bad_request",
        invalid_operator,
    );
    // `_find` answers Mango's own error (`mango_error:info/2`).
    let reply = alice
        .couch
        .post(&format!("/data/{NOTES}/_find"), &bad_selector)
        .await;
    found.refused(
        reply,
        StatusCode::BAD_REQUEST,
        "invalid_operator",
        invalid_operator,
    );
    found
        .unchanged(&alice, &before, "after bad selectors")
        .await;

    // A database name CouchDB would refuse: capitals.
    for (method, path) in [
        (Method::GET, "/data/Bad_Name/"),
        (Method::PUT, "/data/Bad_Name/"),
        (Method::PUT, "/data/Bad_Name/doc"),
        (Method::GET, "/data/Bad_Name/_changes"),
    ] {
        let reply = alice.couch.send_raw(method, path, "{}").await;
        found.refused(
            reply,
            StatusCode::BAD_REQUEST,
            "illegal_database_name",
            None,
        );
    }
    let doctypes = alice
        .couch
        .get_json("/data/_all_doctypes", StatusCode::OK)
        .await;
    assert_eq!(doctypes, json!([NOTES]), "no doctype was created");

    // Revisions that are not `N-id` (`couch_doc:parse_rev/1`).
    let invalid = Some(INVALID_REV);
    for (method, path, body) in [
        (Method::GET, "groceries?rev=abc", None),
        (
            Method::PUT,
            "groceries",
            Some(json!({"_rev": "abc", "title": "x"})),
        ),
        (
            Method::PUT,
            "groceries?rev=abc",
            Some(json!({"title": "x"})),
        ),
        (Method::DELETE, "groceries?rev=x-1", None),
        (Method::GET, "groceries?open_revs=[\"1\"]", None),
    ] {
        let url = format!("/data/{NOTES}/{path}");
        let reply = match body {
            Some(b) => alice.couch.send_raw(method, &url, b.to_string()).await,
            None => common::send(alice.couch.request(method, &url)).await,
        };
        found.refused(reply, StatusCode::BAD_REQUEST, "bad_request", invalid);
    }
    found
        .unchanged(&alice, &before, "after bad revisions")
        .await;
    found.assert_none();
}

async fn an_oversized_body_a_path_not_in_utf8_and_a_wrong_method_get_couchdb_json(server: Server) {
    let alice = alice_has_a_note(&server).await;
    let before = alice.state().await;
    let mut found = Findings::default();

    // One byte over the 64 MiB a `/data` body may have. CouchDB answers a
    // request over `max_http_request_size` with 413 `too_large`
    // (`chttpd:error_info/1`); the reason says the limit and what to do.
    let over = "x".repeat(64 * 1024 * 1024 + 1);
    for (method, path) in [
        (Method::POST, format!("/data/{NOTES}/_bulk_docs")),
        (Method::PUT, format!("/data/{NOTES}/big")),
        (
            Method::PUT,
            format!("/data/{NOTES}/groceries/big.bin?rev={}", alice.rev),
        ),
    ] {
        let reply = alice.couch.send_raw(method, &path, over.clone()).await;
        let names_the_limit = serde_json::from_str::<Value>(&reply.body)
            .is_ok_and(|b| b["reason"].as_str().is_some_and(|r| r.contains("64 MiB")));
        if !names_the_limit {
            found
                .0
                .push(format!("the reason names the limit of 64 MiB: {reply}"));
        }
        found.refused(reply, StatusCode::PAYLOAD_TOO_LARGE, "too_large", None);
        found
            .unchanged(
                &alice,
                &before,
                &format!("after an oversized body to {path}"),
            )
            .await;
    }
    drop(over);

    // `%FF` decodes to no UTF-8 text: no doctype, id or attachment name
    // has it. CouchDB answers 400 `bad_request`.
    for (method, path) in [
        (Method::GET, format!("/data/{NOTES}/%FF")),
        (Method::PUT, format!("/data/{NOTES}/%FF")),
        (
            Method::DELETE,
            format!("/data/{NOTES}/%FF?rev={}", alice.rev),
        ),
        (Method::GET, "/data/%FF/".to_owned()),
        (Method::GET, format!("/data/{NOTES}/groceries/%FF%FE")),
        (Method::PUT, format!("/data/{NOTES}/_local/%C3%28")),
    ] {
        let reply = alice.couch.send_raw(method, &path, "{}").await;
        found.refused(reply, StatusCode::BAD_REQUEST, "bad_request", None);
    }
    found
        .unchanged(&alice, &before, "after paths that are not UTF-8")
        .await;

    // A method a path does not take: 405 `method_not_allowed`, with the
    // methods it does take in `Allow`.
    let reply = alice
        .couch
        .send_raw(Method::PATCH, &format!("/data/{NOTES}/groceries"), "{}")
        .await;
    if reply.header("allow").is_none_or(|a| !a.contains("PUT")) {
        found
            .0
            .push(format!("a 405 lists the allowed methods: {reply}"));
    }
    found.refused(
        reply,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        None,
    );

    // Refused before any instance is chosen, still in CouchDB's shape on
    // /data: a host no instance has, and two Host lines.
    let port = server.addr.port();
    let unknown = common::send_raw_http(
        server.addr,
        "/data/ on an unknown host",
        &format!("GET /data/{NOTES}/groceries HTTP/1.1\r\nHost: unknown.localhost:{port}"),
    )
    .await;
    found.refused(unknown, StatusCode::NOT_FOUND, "not_found", None);
    let twice = common::send_raw_http(
        server.addr,
        "/data/ with two Host lines",
        &format!(
            "GET /data/{NOTES}/groceries HTTP/1.1\r\nHost: {0}\r\nHost: {0}",
            server.domain
        ),
    )
    .await;
    found.refused(twice, StatusCode::BAD_REQUEST, "bad_request", None);
    found.assert_none();
    server.assert_healthy().await;
}
