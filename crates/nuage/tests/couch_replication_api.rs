//! What a CouchDB replicator (PouchDB, CouchDB's own, a sync app) relies on,
//! spoken as plain HTTP: finding missing revisions, pushing a history with
//! `new_edits: false`, conflicts and the winner every replica agrees on,
//! fetching revisions in bulk, reading the changes feed in its every shape,
//! checkpoints in `_local` documents, listing with `_all_docs`, deletions,
//! inline attachments and design documents.
//!
//! Expected answers are CouchDB 3's; where one is subtle the CouchDB source
//! or documentation that defines it is named.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use common::{Couch, Reply, Server, ids_of, send};
use reqwest::header::ACCEPT;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

scenarios!(
    a_replicator_pushes_conflicting_branches_and_every_replica_picks_the_same_winner,
    the_changes_feed_lists_filters_and_includes_documents,
    a_replicator_pages_through_the_changes_with_limit,
    descending_lists_the_newest_change_first,
    live_changes_feeds_wait_for_writes,
    checkpoints_live_in_local_documents,
    all_docs_lists_ranges_and_keys,
    deleted_documents_and_doctypes_go_away,
    attachments_and_design_documents_round_trip,
    the_revs_limit_bounds_each_history,
    revisions_win_over_a_rev_that_disagrees,
    the_root_and_compaction_answer_as_couchdb_does,
);

const NOTES: &str = "com.example.notes";

async fn owner(server: &Server) -> Couch {
    server.couch(&format!("{NOTES}:ALL")).await
}

fn path(rest: &str) -> String {
    format!("/data/{NOTES}/{rest}")
}

/// The `_rev` of every `{"ok": doc}` of an `open_revs` or `_bulk_get` list.
fn ok_revs(list: &Value) -> BTreeSet<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("expected a list: {list}"))
        .iter()
        .map(|e| {
            e["ok"]["_rev"]
                .as_str()
                .unwrap_or_else(|| panic!("expected {{\"ok\": doc}}: {e}"))
                .to_owned()
        })
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn strings(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("expected an array: {v}"))
        .iter()
        .map(|s| s.as_str().expect("a string").to_owned())
        .collect()
}

/// Pushes revisions as a replicator does; CouchDB answers `[]` when every
/// one was stored (or already known).
async fn push(couch: &Couch, docs: Value) {
    let reply = couch
        .post(
            &path("_bulk_docs"),
            &json!({"docs": docs, "new_edits": false}),
        )
        .await;
    assert_eq!(reply.json_ok(StatusCode::CREATED), json!([]));
}

async fn a_replicator_pushes_conflicting_branches_and_every_replica_picks_the_same_winner(
    server: Server,
) {
    let couch = owner(&server).await;

    // Nothing is known yet: every revision is missing, with no ancestors.
    let diff = couch
        .post(&path("_revs_diff"), &json!({"plan": ["1-a", "2-10"]}))
        .await
        .json_ok(StatusCode::OK);
    assert_eq!(
        diff.as_object()
            .map(|m| m.keys().cloned().collect::<Vec<_>>()),
        Some(vec!["plan".to_owned()]),
        "{diff}"
    );
    assert_eq!(
        strings(&diff["plan"]["missing"]),
        set(&["1-a", "2-10"]),
        "{diff}"
    );
    assert!(diff["plan"].get("possible_ancestors").is_none(), "{diff}");

    // Two replicas edited `plan` offline from the same first revision.
    push(
        &couch,
        json!([{"_id": "plan", "_rev": "2-10", "_revisions": {"start": 2, "ids": ["10", "a"]},
                "where": "the sea"}]),
    )
    .await;
    push(
        &couch,
        json!([{"_id": "plan", "_rev": "2-9", "_revisions": {"start": 2, "ids": ["9", "a"]},
                "where": "the mountains"}]),
    )
    .await;
    let seq_after_push = couch.info(NOTES).await["update_seq"].clone();
    // Pushing a revision again changes nothing.
    push(
        &couch,
        json!([{"_id": "plan", "_rev": "2-9", "_revisions": {"start": 2, "ids": ["9", "a"]},
                "where": "the mountains"}]),
    )
    .await;
    assert_eq!(couch.info(NOTES).await["update_seq"], seq_after_push);

    // CouchDB's winner: not deleted, then the longest branch, then the
    // highest revision id compared as bytes, so "9" beats "10"
    // (`couch_doc:to_doc_info_path/1` sorts leaves on {not Deleted, Rev}).
    let doc = couch
        .get_json(&path("plan?conflicts=true"), StatusCode::OK)
        .await;
    assert_eq!(
        doc,
        json!({"_id": "plan", "_rev": "2-9", "where": "the mountains", "_conflicts": ["2-10"]})
    );
    let plain = couch.doc(NOTES, "plan").await;
    assert_eq!(plain["_rev"], "2-9");
    assert!(plain.get("_conflicts").is_none(), "{plain}");
    let info = couch.info(NOTES).await;
    assert_eq!(
        info["doc_count"], 1,
        "two branches are one document: {info}"
    );

    // What is missing now: `possible_ancestors` are our leaves shorter than
    // a missing revision (`couch_db:find_possible_ancestors/2`).
    let diff = couch
        .post(
            &path("_revs_diff"),
            &json!({"plan": ["2-9", "2-10", "3-c", "1-z"], "other": ["1-o"]}),
        )
        .await
        .json_ok(StatusCode::OK);
    assert_eq!(diff["other"], json!({"missing": ["1-o"]}), "{diff}");
    assert_eq!(
        strings(&diff["plan"]["missing"]),
        set(&["3-c", "1-z"]),
        "{diff}"
    );
    assert_eq!(
        strings(&diff["plan"]["possible_ancestors"]),
        set(&["2-9", "2-10"]),
        "{diff}"
    );

    // Every leaf, as a replicator fetches them (`Accept: application/json`
    // asks CouchDB for JSON rather than multipart).
    let all = send(
        couch
            .request(Method::GET, &path("plan?open_revs=all&revs=true"))
            .header(ACCEPT, "application/json"),
    )
    .await
    .json_ok(StatusCode::OK);
    assert_eq!(ok_revs(&all), set(&["2-9", "2-10"]), "{all}");
    for leaf in all.as_array().unwrap() {
        let doc = &leaf["ok"];
        let id = doc["_rev"].as_str().unwrap().trim_start_matches("2-");
        assert_eq!(
            doc["_revisions"],
            json!({"start": 2, "ids": [id, "a"]}),
            "{all}"
        );
    }
    let listed = send(
        couch
            .request(Method::GET, &path("plan?open_revs=[\"2-10\",\"3-nope\"]"))
            .header(ACCEPT, "application/json"),
    )
    .await
    .json_ok(StatusCode::OK);
    assert_eq!(
        listed,
        json!([{"ok": {"_id": "plan", "_rev": "2-10", "where": "the sea"}},
               {"missing": "3-nope"}])
    );

    // The same through `_bulk_get`, with histories.
    let bulk = couch
        .post(
            &path("_bulk_get?revs=true"),
            &json!({"docs": [{"id": "plan", "rev": "2-10"}, {"id": "plan"}, {"id": "nope", "rev": "1-x"}]}),
        )
        .await
        .json_ok(StatusCode::OK);
    let results = bulk["results"].as_array().expect("results");
    assert_eq!(results.len(), 3, "{bulk}");
    assert_eq!(
        results[0],
        json!({"id": "plan", "docs": [{"ok": {"_id": "plan", "_rev": "2-10", "where": "the sea",
            "_revisions": {"start": 2, "ids": ["10", "a"]}}}]})
    );
    assert_eq!(results[1]["id"], "plan");
    assert_eq!(
        ok_revs(&results[1]["docs"]),
        set(&["2-9", "2-10"]),
        "{bulk}"
    );
    assert_eq!(
        results[2],
        json!({"id": "nope", "docs": [{"error": {"id": "nope", "rev": "1-x",
            "error": "not_found", "reason": "missing"}}]})
    );

    // The changes feed: the winner alone, or every leaf.
    let main = couch.changes(NOTES, "").await;
    assert_eq!(main["results"].as_array().unwrap().len(), 1, "{main}");
    assert_eq!(main["results"][0]["changes"], json!([{"rev": "2-9"}]));
    let all_docs = couch.changes(NOTES, "style=all_docs").await;
    let leaves: BTreeSet<String> = all_docs["results"][0]["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| c["rev"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(leaves, set(&["2-9", "2-10"]), "{all_docs}");

    // A third replica made a longer branch: it wins, whatever its id.
    push(
        &couch,
        json!([{"_id": "plan", "_rev": "3-0", "_revisions": {"start": 3, "ids": ["0", "0", "a"]},
                "where": "home"}]),
    )
    .await;
    let doc = couch
        .get_json(&path("plan?conflicts=true"), StatusCode::OK)
        .await;
    assert_eq!(
        doc,
        json!({"_id": "plan", "_rev": "3-0", "where": "home", "_conflicts": ["2-9", "2-10"]})
    );

    // Deleting the winning leaf hands the win back to the best live one.
    let gone = couch.remove(NOTES, "plan", "3-0").await;
    let doc = couch
        .get_json(
            &path("plan?conflicts=true&deleted_conflicts=true"),
            StatusCode::OK,
        )
        .await;
    assert_eq!(
        doc,
        json!({"_id": "plan", "_rev": "2-9", "where": "the mountains",
               "_conflicts": ["2-10"], "_deleted_conflicts": [gone]})
    );
}

/// Alice's five notes `a`…`e` written in order, then `b` edited: the feed
/// holds a, c, d, e, b. Returns her client and every revision.
async fn five_notes_and_an_edit(
    server: &Server,
) -> (Couch, std::collections::HashMap<&'static str, String>) {
    let couch = owner(server).await;
    let mut revs = std::collections::HashMap::new();
    for (n, id) in ["a", "b", "c", "d", "e"].into_iter().enumerate() {
        revs.insert(id, couch.save(NOTES, id, &json!({"n": n})).await);
    }
    let b2 = couch
        .save(NOTES, "b", &json!({"_rev": revs["b"], "n": 10}))
        .await;
    revs.insert("b", b2);
    (couch, revs)
}

async fn the_changes_feed_lists_filters_and_includes_documents(server: Server) {
    let (couch, revs) = five_notes_and_an_edit(&server).await;

    // A document appears once, at its latest change.
    let all = couch.changes(NOTES, "").await;
    assert_eq!(ids_of(&all["results"], "id"), ["a", "c", "d", "e", "b"]);
    assert_eq!(all["last_seq"], couch.info(NOTES).await["update_seq"]);
    assert_eq!(all["results"][4]["changes"], json!([{"rev": revs["b"]}]));
    assert_eq!(all["pending"], 0, "{all}");

    // From a sequence of the feed on, and from now on.
    let third = all["results"][2]["seq"].to_string();
    let rest = couch.changes(NOTES, &format!("since={third}")).await;
    assert_eq!(ids_of(&rest["results"], "id"), ["e", "b"]);
    assert_eq!(rest["last_seq"], all["last_seq"]);
    let now = couch.changes(NOTES, "since=now").await;
    assert_eq!(now["results"], json!([]));
    assert_eq!(now["last_seq"], all["last_seq"]);

    // With the documents.
    let docs = couch.changes(NOTES, "include_docs=true").await;
    assert_eq!(
        docs["results"][0]["doc"],
        json!({"_id": "a", "_rev": revs["a"], "n": 0})
    );
    assert_eq!(
        docs["results"][4]["doc"],
        json!({"_id": "b", "_rev": revs["b"], "n": 10})
    );

    // Only some documents, the ids in the query or in the body.
    let by_ids = couch
        .changed_ids(NOTES, "filter=_doc_ids&doc_ids=[\"d\",\"b\",\"zz\"]")
        .await;
    assert_eq!(by_ids, ["d", "b"]);
    let posted = couch
        .post(
            &path("_changes?filter=_doc_ids"),
            &json!({"doc_ids": ["d", "b"]}),
        )
        .await
        .json_ok(StatusCode::OK);
    assert_eq!(ids_of(&posted["results"], "id"), ["d", "b"]);

    // Only documents matching a selector.
    let selected = couch
        .post(
            &path("_changes?filter=_selector&include_docs=true"),
            &json!({"selector": {"n": {"$gte": 3}}}),
        )
        .await
        .json_ok(StatusCode::OK);
    assert_eq!(ids_of(&selected["results"], "id"), ["d", "e", "b"]);
    assert_eq!(selected["results"][2]["doc"]["n"], 10);

    // A deletion is a change, flagged `deleted`.
    let gone = couch.remove(NOTES, "a", &revs["a"]).await;
    let tail = couch
        .changes(NOTES, &format!("since={}", all["last_seq"]))
        .await;
    assert_eq!(
        tail["results"],
        json!([{"seq": tail["last_seq"], "id": "a", "changes": [{"rev": gone}], "deleted": true}])
    );
}

async fn a_replicator_pages_through_the_changes_with_limit(server: Server) {
    let (couch, _) = five_notes_and_an_edit(&server).await;
    let everything = couch.changes(NOTES, "").await;

    // A replicator asks for a batch, then resumes from the batch's
    // `last_seq`, which it treats as opaque: CouchDB's `last_seq` is the
    // sequence of the last change it sent (`couch_changes` stops its fold
    // at the limit), so nothing is skipped.
    let first = couch.changes(NOTES, "limit=2").await;
    assert_eq!(ids_of(&first["results"], "id"), ["a", "c"]);
    let second = couch
        .changes(NOTES, &format!("limit=2&since={}", first["last_seq"]))
        .await;
    let third = couch
        .changes(NOTES, &format!("limit=2&since={}", second["last_seq"]))
        .await;
    let mut replicated = ids_of(&first["results"], "id");
    replicated.extend(ids_of(&second["results"], "id"));
    replicated.extend(ids_of(&third["results"], "id"));
    assert_eq!(
        replicated,
        ["a", "c", "d", "e", "b"],
        "batches of two must cover the feed; the batches were:\n{first}\n{second}\n{third}"
    );
    assert_eq!(first["last_seq"], first["results"][1]["seq"], "{first}");
    assert_eq!(third["last_seq"], everything["last_seq"], "{third}");

    // `pending` counts the changes left after this batch (CouchDB's API
    // reference for `/{db}/_changes`: "Count of remaining items in the
    // feed"): five documents, two sent, three left.
    assert_eq!(first["pending"], 3, "{first}");
    assert_eq!(third["pending"], 0, "{third}");
}

async fn descending_lists_the_newest_change_first(server: Server) {
    let (couch, _) = five_notes_and_an_edit(&server).await;
    // CouchDB folds the feed backwards from the current sequence when
    // `descending=true` (`couch_changes:handle_changes/4`: `rev` starts at
    // `couch_db:get_update_seq/1`); `since` does not hold it back.
    let desc = couch.changes(NOTES, "descending=true").await;
    assert_eq!(
        ids_of(&desc["results"], "id"),
        ["b", "e", "d", "c", "a"],
        "{desc}"
    );
    let newest = couch.changes(NOTES, "descending=true&limit=1").await;
    assert_eq!(ids_of(&newest["results"], "id"), ["b"], "{newest}");
}

/// Starts a request in the background, as a client waiting on a live feed.
fn in_background(rb: reqwest::RequestBuilder) -> tokio::task::JoinHandle<(Reply, Instant)> {
    tokio::spawn(async move {
        let reply = send(rb).await;
        (reply, Instant::now())
    })
}

async fn live_changes_feeds_wait_for_writes(server: Server) {
    let couch = owner(&server).await;
    couch.save(NOTES, "first", &json!({"n": 1})).await;
    let seq = couch.info(NOTES).await["update_seq"].clone();

    // longpoll: the answer waits for the next change, and is that change.
    let waiting = in_background(couch.request(
        Method::GET,
        &path(&format!("_changes?feed=longpoll&since={seq}")),
    ));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        !waiting.is_finished(),
        "a longpoll with nothing new must wait"
    );
    let rev = couch.save(NOTES, "second", &json!({"n": 2})).await;
    let written = Instant::now();
    let (reply, answered) = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the longpoll must answer once a document is written")
        .expect("the longpoll task");
    let body = reply.json_ok(StatusCode::OK);
    assert_eq!(
        body["results"],
        json!([{"seq": body["last_seq"], "id": "second", "changes": [{"rev": rev}]}])
    );
    assert!(
        answered.saturating_duration_since(written) < Duration::from_secs(1),
        "the longpoll answered {:?} after the write",
        answered.saturating_duration_since(written)
    );

    // longpoll with a timeout and nothing new: empty, after the timeout.
    let seq = body["last_seq"].clone();
    let started = Instant::now();
    let quiet = couch
        .changes(NOTES, &format!("feed=longpoll&since={seq}&timeout=300"))
        .await;
    let waited = started.elapsed();
    assert_eq!(quiet["results"], json!([]));
    assert_eq!(quiet["last_seq"], seq);
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(5),
        "timeout=300 answered after {waited:?}"
    );

    // continuous: a line per change, a newline per heartbeat, then new
    // changes as they happen.
    let mut feed = couch
        .stream(&path("_changes?feed=continuous&since=0&heartbeat=100"))
        .await;
    assert!(
        feed.content_type.starts_with("application/json"),
        "{}",
        feed.content_type
    );
    let line = feed.next_json(Duration::from_secs(5)).await;
    assert_eq!(line["id"], "first", "{line}");
    let line = feed.next_json(Duration::from_secs(5)).await;
    assert_eq!(line["id"], "second", "{line}");
    assert_eq!(
        feed.next_line(Duration::from_secs(2)).await.as_deref(),
        Some(""),
        "a heartbeat is an empty line"
    );
    let third = couch.save(NOTES, "third", &json!({"n": 3})).await;
    let line = loop {
        let line = feed
            .next_line(Duration::from_secs(2))
            .await
            .expect("the continuous feed ended");
        if !line.is_empty() {
            break line;
        }
    };
    let line: Value = serde_json::from_str(&line).expect("a JSON line");
    assert_eq!(line["id"], "third", "{line}");
    assert_eq!(line["changes"], json!([{"rev": third}]));
    drop(feed);

    // continuous with a timeout ends with the last sequence.
    let seq = couch.info(NOTES).await["update_seq"].clone();
    let mut feed = couch
        .stream(&path("_changes?feed=continuous&since=now&timeout=300"))
        .await;
    let end = feed.next_json(Duration::from_secs(5)).await;
    assert_eq!(end, json!({"last_seq": seq, "pending": 0}));
    assert_eq!(feed.next_line(Duration::from_secs(5)).await, None);

    // eventsource: `data:` and `id:` lines, a blank line after each event.
    let mut feed = couch
        .stream(&path("_changes?feed=eventsource&since=0"))
        .await;
    assert!(
        feed.content_type.starts_with("text/event-stream"),
        "{}",
        feed.content_type
    );
    let mut events = Vec::new();
    let fourth = couch.save(NOTES, "fourth", &json!({"n": 4})).await;
    while events.len() < 4 {
        let line = feed
            .next_line(Duration::from_secs(5))
            .await
            .expect("the eventsource feed ended");
        if line.is_empty() {
            continue;
        }
        let data = line
            .strip_prefix("data: ")
            .unwrap_or_else(|| panic!("an event starts with `data: `, got {line:?}"));
        let row: Value = serde_json::from_str(data).expect("JSON data");
        let id_line = feed.next_line(Duration::from_secs(5)).await;
        assert_eq!(id_line, Some(format!("id: {}", row["seq"])));
        assert_eq!(
            feed.next_line(Duration::from_secs(5)).await.as_deref(),
            Some("")
        );
        events.push(row);
    }
    assert_eq!(
        ids_of(&json!(events), "id"),
        ["first", "second", "third", "fourth"]
    );
    assert_eq!(events[3]["changes"], json!([{"rev": fourth}]));
}

async fn checkpoints_live_in_local_documents(server: Server) {
    let couch = owner(&server).await;
    couch.save(NOTES, "note", &json!({"n": 1})).await;
    let before = couch.info(NOTES).await;

    let created = couch
        .put(
            &path("_local/checkpoint"),
            &json!({"last_seq": 1, "history": []}),
        )
        .await
        .json_ok(StatusCode::CREATED);
    assert_eq!(
        created,
        json!({"ok": true, "id": "_local/checkpoint", "rev": "0-1"})
    );
    let doc = couch
        .get_json(&path("_local/checkpoint"), StatusCode::OK)
        .await;
    assert_eq!(
        doc,
        json!({"_id": "_local/checkpoint", "_rev": "0-1", "last_seq": 1, "history": []})
    );
    let updated = couch
        .put(
            &path("_local/checkpoint"),
            &json!({"_rev": "0-1", "last_seq": 2}),
        )
        .await
        .json_ok(StatusCode::CREATED);
    assert_eq!(updated["rev"], "0-2");

    // A stale or missing revision is a conflict, as for any document.
    for body in [
        json!({"_rev": "0-1", "last_seq": 9}),
        json!({"last_seq": 9}),
    ] {
        couch
            .put(&path("_local/checkpoint"), &body)
            .await
            .expect_error(StatusCode::CONFLICT, "conflict");
    }
    couch
        .delete(&path("_local/checkpoint?rev=0-1"))
        .await
        .expect_error(StatusCode::CONFLICT, "conflict");
    let doc = couch
        .get_json(&path("_local/checkpoint"), StatusCode::OK)
        .await;
    assert_eq!(
        doc,
        json!({"_id": "_local/checkpoint", "_rev": "0-2", "last_seq": 2})
    );

    // Local documents are not documents: no sequence, no count, not
    // listed, not replicated.
    let after = couch.info(NOTES).await;
    assert_eq!(
        (&after["update_seq"], &after["doc_count"]),
        (&before["update_seq"], &before["doc_count"])
    );
    assert_eq!(couch.changed_ids(NOTES, "").await, ["note"]);
    assert_eq!(couch.all_doc_ids(NOTES, "").await, ["note"]);

    // A replicator that may only read keeps its checkpoint all the same.
    let reader = server.couch(&format!("{NOTES}:GET")).await;
    let mine = reader
        .put(&path("_local/reader"), &json!({"last_seq": 1}))
        .await
        .json_ok(StatusCode::CREATED);
    assert_eq!(mine["rev"], "0-1");

    let deleted = couch
        .delete(&path("_local/checkpoint?rev=0-2"))
        .await
        .json_ok(StatusCode::OK);
    assert_eq!(
        deleted,
        json!({"ok": true, "id": "_local/checkpoint", "rev": "0-0"})
    );
    let missing = couch
        .get(&path("_local/checkpoint"))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(missing["reason"], "missing");
}

async fn all_docs_lists_ranges_and_keys(server: Server) {
    let couch = owner(&server).await;
    let mut revs = std::collections::HashMap::new();
    // Ids sort as bytes, as CouchDB's by-id index does: "Z" before "a",
    // whatever the database's locale would say.
    for id in ["c", "a", "e", "Z", "b", "d", "f"] {
        revs.insert(id, couch.save(NOTES, id, &json!({"name": id})).await);
    }
    let f_gone = couch.remove(NOTES, "f", &revs["f"]).await;

    let all = couch.get_json(&path("_all_docs"), StatusCode::OK).await;
    assert_eq!(
        all["total_rows"], 6,
        "deleted documents are not counted: {all}"
    );
    assert_eq!(all["offset"], 0);
    assert_eq!(
        all["rows"][1],
        json!({"id": "a", "key": "a", "value": {"rev": revs["a"]}})
    );
    assert_eq!(ids_of(&all["rows"], "id"), ["Z", "a", "b", "c", "d", "e"]);

    let cases: [(&str, &[&str]); 9] = [
        ("startkey=\"b\"&endkey=\"d\"", &["b", "c", "d"]),
        ("start_key=\"b\"&end_key=\"d\"", &["b", "c", "d"]),
        (
            "startkey=\"b\"&endkey=\"d\"&inclusive_end=false",
            &["b", "c"],
        ),
        ("startkey=\"bb\"", &["c", "d", "e"]),
        ("descending=true", &["e", "d", "c", "b", "a", "Z"]),
        (
            "descending=true&startkey=\"d\"&endkey=\"b\"",
            &["d", "c", "b"],
        ),
        (
            "descending=true&startkey=\"d\"&endkey=\"b\"&inclusive_end=false",
            &["d", "c"],
        ),
        ("limit=2&skip=1", &["a", "b"]),
        ("descending=true&limit=2&skip=1", &["d", "c"]),
    ];
    for (query, expected) in cases {
        assert_eq!(couch.all_doc_ids(NOTES, query).await, expected, "?{query}");
    }
    let skipped = couch
        .get_json(&path("_all_docs?limit=2&skip=1"), StatusCode::OK)
        .await;
    assert_eq!(skipped["offset"], 1, "{skipped}");

    // Given keys: in the order asked, unknown ones as errors, deleted ones
    // with their deletion.
    let keys = json!(["c", "a", "zz", "f"]);
    let expected_rows = json!([
        {"id": "c", "key": "c", "value": {"rev": revs["c"]},
         "doc": {"_id": "c", "_rev": revs["c"], "name": "c"}},
        {"id": "a", "key": "a", "value": {"rev": revs["a"]},
         "doc": {"_id": "a", "_rev": revs["a"], "name": "a"}},
        {"key": "zz", "error": "not_found"},
        {"id": "f", "key": "f", "value": {"rev": f_gone, "deleted": true}, "doc": null},
    ]);
    let by_get = couch
        .get_json(
            &path(&format!("_all_docs?include_docs=true&keys={keys}")),
            StatusCode::OK,
        )
        .await;
    assert_eq!(by_get["rows"], expected_rows);
    let by_post = couch
        .post(&path("_all_docs?include_docs=true"), &json!({"keys": keys}))
        .await
        .json_ok(StatusCode::OK);
    assert_eq!(by_post["rows"], expected_rows);
    let without_docs = couch
        .post(&path("_all_docs"), &json!({"keys": ["b", "f"]}))
        .await
        .json_ok(StatusCode::OK);
    let rows = without_docs["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 2, "{without_docs}");
    assert_eq!(
        rows[0],
        json!({"id": "b", "key": "b", "value": {"rev": revs["b"]}})
    );
    assert_eq!(
        (&rows[1]["id"], &rows[1]["key"], &rows[1]["value"]),
        (
            &json!("f"),
            &json!("f"),
            &json!({"rev": f_gone, "deleted": true})
        )
    );
}

async fn deleted_documents_and_doctypes_go_away(server: Server) {
    let owner_token = server
        .cli_token(&format!("{NOTES}:ALL com.example.other:ALL"), None)
        .await;
    let couch = server.couch_with(&owner_token);
    let rev = couch.save(NOTES, "note", &json!({"text": "hello"})).await;
    couch.save("com.example.other", "x", &json!({})).await;

    // A deleted document is `deleted`, one never written `missing`.
    let gone = couch.remove(NOTES, "note", &rev).await;
    assert!(gone.starts_with("2-"), "{gone}");
    let deleted = couch
        .get(&path("note"))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(deleted["reason"], "deleted");
    let missing = couch
        .get(&path("never"))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(missing["reason"], "missing");
    let info = couch.info(NOTES).await;
    assert_eq!(
        (&info["doc_count"], &info["doc_del_count"]),
        (&json!(0), &json!(1))
    );
    // The tombstone is still there for whoever asks for it by revision.
    let tombstone = couch
        .get_json(&path(&format!("note?rev={gone}")), StatusCode::OK)
        .await;
    assert_eq!(
        tombstone,
        json!({"_id": "note", "_rev": gone, "_deleted": true})
    );
    // Writing it again continues its history.
    let again = couch
        .put(&path("note"), &json!({"text": "again"}))
        .await
        .json_ok(StatusCode::CREATED);
    let again = again["rev"].as_str().expect("rev").to_owned();
    assert!(again.starts_with("3-"), "{again}");

    // The doctypes a token may read.
    let doctypes = couch.get_json("/data/_all_doctypes", StatusCode::OK).await;
    assert_eq!(strings(&doctypes), set(&["com.example.other", NOTES]));
    let reader = server.couch(&format!("{NOTES}:GET")).await;
    let visible = reader.get_json("/data/_all_doctypes", StatusCode::OK).await;
    assert_eq!(visible, json!([NOTES]));

    // Removing a whole doctype needs DELETE on all of it.
    let refused = reader
        .delete(&format!("/data/{NOTES}/"))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    assert!(
        Reply::error_text(&refused).contains(&format!("{NOTES}:DELETE")),
        "{refused}"
    );
    let one_doc = server.couch(&format!("{NOTES}:ALL:note")).await;
    one_doc
        .delete(&format!("/data/{NOTES}/"))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(couch.doc(NOTES, "note").await["_rev"], again);

    let removed = couch
        .delete(&format!("/data/{NOTES}/"))
        .await
        .json_ok(StatusCode::OK);
    assert_eq!(removed, json!({"ok": true}));
    let missing = couch
        .get(&path("note"))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(missing["reason"], "missing");
    assert_eq!(couch.changed_ids(NOTES, "").await, Vec::<String>::new());
    let doctypes = couch.get_json("/data/_all_doctypes", StatusCode::OK).await;
    assert_eq!(doctypes, json!(["com.example.other"]));
    assert_eq!(couch.doc("com.example.other", "x").await["_id"], "x");
    couch
        .delete(&format!("/data/{NOTES}/"))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
}

/// No answer may show the blob store's private key of an attachment.
fn no_private_members(reply: Reply) -> Reply {
    assert!(
        !reply.body.contains("nuage_blob"),
        "a private member leaked: {reply}"
    );
    reply
}

async fn attachments_and_design_documents_round_trip(server: Server) {
    let couch = owner(&server).await;
    // MD5("hello world") = 5eb63bbbe01eeed093cb22bb8f5acdc3.
    let hello_digest = "md5-XrY7u+Ae7tCTyyK7j1rNww==";
    let rev1 = couch
        .save(
            NOTES,
            "letter",
            &json!({"subject": "hi", "_attachments": {"hello.txt": {
                "content_type": "text/plain", "data": BASE64.encode("hello world")}}}),
        )
        .await;

    // Stubs by default.
    let doc = no_private_members(couch.get(&path("letter")).await).json_ok(StatusCode::OK);
    assert_eq!(
        doc,
        json!({"_id": "letter", "_rev": rev1, "subject": "hi", "_attachments": {"hello.txt": {
            "content_type": "text/plain", "digest": hello_digest, "length": 11,
            "revpos": 1, "stub": true}}})
    );
    // The data on request.
    let doc = no_private_members(couch.get(&path("letter?attachments=true")).await)
        .json_ok(StatusCode::OK);
    assert_eq!(
        doc["_attachments"],
        json!({"hello.txt": {"content_type": "text/plain", "digest": hello_digest,
            "length": 11, "revpos": 1, "data": "aGVsbG8gd29ybGQ="}})
    );

    // A second revision keeps the first attachment as a stub and adds one.
    let bytes: Vec<u8> = (0..=255).collect();
    let rev2 = couch
        .save(
            NOTES,
            "letter",
            &json!({"_rev": rev1, "subject": "hi again", "_attachments": {
                "hello.txt": {"stub": true},
                "bytes.bin": {"content_type": "application/octet-stream", "data": BASE64.encode(&bytes)}}}),
        )
        .await;
    let doc = no_private_members(couch.get(&path("letter?attachments=true")).await)
        .json_ok(StatusCode::OK);
    let atts = &doc["_attachments"];
    assert_eq!(atts["hello.txt"]["revpos"], 1, "{doc}");
    assert_eq!(atts["hello.txt"]["data"], "aGVsbG8gd29ybGQ=");
    assert_eq!(atts["bytes.bin"]["revpos"], 2, "{doc}");
    assert_eq!(atts["bytes.bin"]["length"], 256);
    let back = BASE64
        .decode(atts["bytes.bin"]["data"].as_str().expect("data"))
        .expect("base64");
    assert_eq!(back, bytes, "the bytes come back as they went");
    assert!(
        atts["bytes.bin"]["digest"]
            .as_str()
            .is_some_and(|d| d.starts_with("md5-")),
        "{doc}"
    );
    // Only what changed since a revision the replica has.
    let since = no_private_members(
        couch
            .get(&path(&format!(
                "letter?attachments=true&atts_since=[\"{rev1}\"]"
            )))
            .await,
    )
    .json_ok(StatusCode::OK);
    assert_eq!(since["_attachments"]["hello.txt"]["stub"], true, "{since}");
    assert!(
        since["_attachments"]["hello.txt"].get("data").is_none(),
        "{since}"
    );
    assert_eq!(
        since["_attachments"]["bytes.bin"]["data"],
        atts["bytes.bin"]["data"]
    );

    // A stub for an attachment the document never had.
    let reply = couch
        .put(
            &path("letter"),
            &json!({"_rev": rev2, "_attachments": {"nothere.txt": {"stub": true}}}),
        )
        .await;
    let body = reply.expect_error(StatusCode::PRECONDITION_FAILED, "missing_stub");
    assert_eq!(
        body["reason"],
        "Invalid attachment stub in letter for nothere.txt"
    );

    // Every other way of reading the document shows stubs or data, never
    // where the content is kept.
    for p in [
        "_changes?include_docs=true",
        "_changes?include_docs=true&attachments=true",
        "_all_docs?include_docs=true",
        "letter?open_revs=all",
        "letter?revs_info=true&conflicts=true",
    ] {
        no_private_members(couch.get(&path(p)).await).expect_status(StatusCode::OK);
    }
    no_private_members(
        couch
            .post(
                &path("_bulk_get?attachments=true"),
                &json!({"docs": [{"id": "letter"}]}),
            )
            .await,
    )
    .expect_status(StatusCode::OK);
    no_private_members(
        couch
            .post(
                &path("_find"),
                &json!({"selector": {"subject": "hi again"}}),
            )
            .await,
    )
    .expect_status(StatusCode::OK);

    // Dropping an attachment from the list removes it.
    let rev3 = couch
        .save(
            NOTES,
            "letter",
            &json!({"_rev": rev2, "subject": "short", "_attachments": {"hello.txt": {"stub": true}}}),
        )
        .await;
    let doc = couch.doc(NOTES, "letter").await;
    assert_eq!(doc["_rev"], rev3);
    assert_eq!(
        doc["_attachments"]
            .as_object()
            .map(|m| m.keys().cloned().collect::<Vec<_>>()),
        Some(vec!["hello.txt".to_owned()])
    );

    // Design documents are stored and returned, and listed first.
    let design = json!({"language": "javascript",
        "views": {"by_subject": {"map": "function (doc) { emit(doc.subject); }"}}});
    let created = couch
        .put(&path("_design/x"), &design)
        .await
        .json_ok(StatusCode::CREATED);
    assert_eq!(created["ok"], true);
    assert_eq!(created["id"], "_design/x");
    let drev = created["rev"].as_str().expect("rev").to_owned();
    let mut expected = design.clone();
    expected["_id"] = json!("_design/x");
    expected["_rev"] = json!(drev);
    assert_eq!(
        couch.get_json(&path("_design/x"), StatusCode::OK).await,
        expected
    );
    assert_eq!(couch.all_doc_ids(NOTES, "").await, ["_design/x", "letter"]);
    assert!(
        couch
            .changed_ids(NOTES, "")
            .await
            .contains(&"_design/x".to_owned())
    );
    let drev2 = couch
        .save(
            NOTES,
            "_design/x",
            &json!({"_rev": drev, "language": "javascript"}),
        )
        .await;
    let deleted = couch
        .delete(&path(&format!("_design/x?rev={drev2}")))
        .await
        .json_ok(StatusCode::OK);
    assert_eq!(deleted["id"], "_design/x");
    couch
        .get(&path("_design/x"))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
}

async fn the_revs_limit_bounds_each_history(server: Server) {
    let couch = owner(&server).await;
    assert_eq!(
        couch.get_json(&path("_revs_limit"), StatusCode::OK).await,
        json!(1000),
        "CouchDB's default"
    );
    let reader = server.couch(&format!("{NOTES}:GET")).await;
    let refused = reader
        .send_raw(Method::PUT, &path("_revs_limit"), "2")
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{refused}");
    let set = couch.send_raw(Method::PUT, &path("_revs_limit"), "3").await;
    assert_eq!(set.status, StatusCode::OK, "{set}");
    assert_eq!(
        couch.get_json(&path("_revs_limit"), StatusCode::OK).await,
        json!(3)
    );
    let bad = couch.send_raw(Method::PUT, &path("_revs_limit"), "0").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{bad}");

    let mut rev = couch.save(NOTES, "n", &json!({"v": 0})).await;
    for v in 1..6 {
        rev = couch.save(NOTES, "n", &json!({"_rev": rev, "v": v})).await;
    }
    let doc = couch.get_json(&path("n?revs=true"), StatusCode::OK).await;
    assert_eq!(doc["v"], 5, "{doc}");
    assert_eq!(doc["_revisions"]["start"], 6, "{doc}");
    assert_eq!(
        doc["_revisions"]["ids"].as_array().map(Vec::len),
        Some(3),
        "only the newest three are kept: {doc}"
    );
}

/// PouchDB's replicator can send a `_rev` that disagrees with
/// `_revisions` (`"3-c"` beside a stemmed history starting at 2): CouchDB
/// takes `_revisions`, and so must nuage, or the document is refused inside
/// a 201 and the replication loses it without a word.
async fn revisions_win_over_a_rev_that_disagrees(server: Server) {
    let couch = owner(&server).await;
    push(
        &couch,
        json!([{"_id": "x", "_rev": "3-c", "_revisions": {"start": 2, "ids": ["c", "a"]}, "v": 1}]),
    )
    .await;
    let doc = couch.get_json(&path("x?revs=true"), StatusCode::OK).await;
    assert_eq!(doc["_rev"], "2-c", "{doc}");
    assert_eq!(
        doc["_revisions"],
        json!({"start": 2, "ids": ["c", "a"]}),
        "{doc}"
    );
    assert_eq!(doc["v"], 1, "{doc}");
}

/// A client pointed at `/data` (no trailing slash) finds CouchDB's root,
/// as at `/data/`; `_compact` is accepted from a caller who may change the
/// whole doctype (nothing is left to compact: bodies of replaced leaves go
/// as they are replaced) and refused to a reader.
async fn the_root_and_compaction_answer_as_couchdb_does(server: Server) {
    let couch = owner(&server).await;
    for root in ["/data", "/data/"] {
        let welcome = couch.get_json(root, StatusCode::OK).await;
        assert_eq!(welcome["couchdb"], "Welcome", "{root}: {welcome}");
    }
    couch.save(NOTES, "n", &json!({"v": 1})).await;
    let compact = couch.post(&path("_compact"), &json!({})).await;
    assert_eq!(compact.json_ok(StatusCode::ACCEPTED), json!({"ok": true}));
    let reader = server.couch(&format!("{NOTES}:GET")).await;
    reader
        .post(&path("_compact"), &json!({}))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
}
