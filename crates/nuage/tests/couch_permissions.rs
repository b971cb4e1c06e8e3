//! Alice gives apps tokens for part of her notes: two notes by id, the notes
//! of one folder, or reading only. Each app sees and changes exactly that
//! part, through every door of the document API (documents, `_bulk_docs`,
//! `_changes`, `_all_docs`, `_bulk_get`, `_find`), is told which scope it
//! lacks when it strays, and leaves the rest of her notes as they were.

mod common;

use common::{Couch, DocState, Reply, Server, ids_of};
use reqwest::StatusCode;
use serde_json::json;

scenarios!(
    a_token_for_two_notes_sees_only_those_two,
    a_token_for_the_work_folder_stays_in_it,
    a_read_only_token_cannot_write,
    a_writer_cannot_delete_or_a_creator_update_through_another_route,
    a_folder_token_cannot_tell_hidden_notes_from_missing_ones,
);

const NOTES: &str = "com.example.notes";

fn path(rest: &str) -> String {
    format!("/data/{NOTES}/{rest}")
}

/// Alice's own token and her notes: `a`, `b`, `c` in no folder, `w1` in
/// `work`, `h1` in `home`.
async fn alice_writes_her_notes(server: &Server) -> Couch {
    let alice = server.couch(&format!("{NOTES}:ALL")).await;
    for (id, doc) in [
        ("a", json!({"text": "a"})),
        ("b", json!({"text": "b"})),
        ("c", json!({"text": "c", "secret": true})),
        ("w1", json!({"folder": "work", "text": "report"})),
        ("h1", json!({"folder": "home", "text": "diary"})),
    ] {
        alice.save(NOTES, id, &doc).await;
    }
    alice
}

const ALL_IDS: [&str; 9] = ["a", "b", "c", "w1", "h1", "w2", "h2", "w3", "h3"];

async fn state(alice: &Couch) -> DocState {
    alice.state(NOTES, &ALL_IDS).await
}

/// 403 `forbidden`, naming the scope that would have been needed.
/// Answered exactly as a document that does not exist.
fn hidden(reply: Reply) {
    let body = reply.expect_error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(body["reason"], "missing", "{body}");
}

fn forbidden(reply: Reply, scope: &str) {
    let shown = reply.to_string();
    let body = reply.expect_error(StatusCode::FORBIDDEN, "forbidden");
    assert!(
        Reply::error_text(&body).contains(scope),
        "a refusal must name the scope needed, `{scope}`: {shown}"
    );
}

async fn a_token_for_two_notes_sees_only_those_two(server: Server) {
    let alice = alice_writes_her_notes(&server).await;
    let before = state(&alice).await;
    let app = server.couch(&format!("{NOTES}:GET:a,b")).await;

    assert_eq!(app.doc(NOTES, "a").await["text"], "a");
    assert_eq!(app.doc(NOTES, "b").await["text"], "b");
    forbidden(app.get(&path("c")).await, &format!("{NOTES}:GET"));
    forbidden(
        app.get(&path("c?open_revs=all")).await,
        &format!("{NOTES}:GET"),
    );

    // Lists and feeds show the two notes and nothing of the others.
    let changes = app.changes(NOTES, "include_docs=true").await;
    assert_eq!(ids_of(&changes["results"], "id"), ["a", "b"]);
    assert!(!changes.to_string().contains("secret"), "{changes}");
    let all = app
        .get_json(&path("_all_docs?include_docs=true"), StatusCode::OK)
        .await;
    assert_eq!(ids_of(&all["rows"], "id"), ["a", "b"]);
    assert!(!all.to_string().contains("secret"), "{all}");
    assert_eq!(all["total_rows"], 2, "no count of the others: {all}");
    let c_rev = alice.doc(NOTES, "c").await["_rev"].clone();
    let asked = app
        .post(&path("_all_docs"), &json!({"keys": ["a", "c"]}))
        .await
        .json_ok(StatusCode::OK);
    assert_eq!(asked["rows"][0]["id"], "a", "{asked}");
    assert!(asked["rows"][1].get("value").is_none(), "{asked}");
    assert!(
        !asked.to_string().contains(c_rev.as_str().unwrap()),
        "{asked}"
    );
    let bulk = app
        .post(
            &path("_bulk_get"),
            &json!({"docs": [{"id": "b"}, {"id": "c"}, {"id": "zz"}, {"id": "c", "rev": c_rev}, {"id": "zz", "rev": c_rev}]}),
        )
        .await
        .json_ok(StatusCode::OK);
    assert_eq!(bulk["results"][0]["docs"][0]["ok"]["_id"], "b", "{bulk}");
    assert!(bulk["results"][1]["docs"][0]["ok"].is_null(), "{bulk}");
    // A document outside the permission answers exactly as a missing one:
    // no `forbidden`, no current revision to confirm a guessed body with.
    let as_missing = |i: usize| bulk["results"][i].to_string().replace("\"zz\"", "\"c\"");
    assert_eq!(bulk["results"][1].to_string(), as_missing(2), "{bulk}");
    assert_eq!(bulk["results"][3].to_string(), as_missing(4), "{bulk}");
    assert!(!bulk.to_string().contains("forbidden"), "{bulk}");
    assert!(!bulk.to_string().contains("secret"), "{bulk}");
    let found = app
        .post(
            &path("_find"),
            &json!({"selector": {"text": {"$gt": ""}}, "execution_stats": true}),
        )
        .await
        .json_ok(StatusCode::OK);
    assert_eq!(ids_of(&found["docs"], "_id"), ["a", "b"]);
    assert_eq!(
        found["execution_stats"]["total_docs_examined"], 2,
        "no count of the others: {found}"
    );
    let feed = app.changes(NOTES, "limit=1").await;
    assert_eq!(feed["pending"], 0, "no count of the others: {feed}");

    // Nor how many other notes there are; nor which revisions they have.
    let seen = app.info(NOTES).await;
    let real = alice.info(NOTES).await;
    assert!(real["doc_count"].as_u64().unwrap() > 2, "{real}");
    assert_eq!(
        (seen["doc_count"].clone(), seen["doc_del_count"].clone()),
        (json!(0), json!(0)),
        "{seen}"
    );
    let diff = app
        .post(&path("_revs_diff"), &json!({"c": [c_rev.clone()]}))
        .await
        .json_ok(StatusCode::OK);
    assert_eq!(
        diff["c"]["missing"],
        json!([c_rev]),
        "a revision outside the permission reads as unknown: {diff}"
    );

    // Reading is all it may do, even to its own two notes.
    let a_rev = alice.doc(NOTES, "a").await["_rev"].clone();
    forbidden(
        app.put(&path("a"), &json!({"_rev": a_rev, "text": "changed"}))
            .await,
        &format!("{NOTES}:PUT"),
    );
    assert_eq!(state(&alice).await, before, "the app changed nothing");
}

async fn a_token_for_the_work_folder_stays_in_it(server: Server) {
    let alice = alice_writes_her_notes(&server).await;
    let app = server
        .couch(&format!("{NOTES}:GET,PUT,POST:work:folder"))
        .await;
    let put_scope = format!("{NOTES}:PUT");

    // Reading: work notes only.
    let w1 = app.doc(NOTES, "w1").await;
    assert_eq!(w1["text"], "report");
    // A document outside the selector reads as missing: whether it exists
    // is none of the app's business.
    hidden(app.get(&path("h1")).await);
    hidden(app.get(&path("a")).await);
    hidden(app.get(&path("never-written")).await);

    // Writing inside the folder works.
    let w1_rev = app
        .save(
            NOTES,
            "w1",
            &json!({"_rev": w1["_rev"], "folder": "work", "text": "report v2"}),
        )
        .await;
    app.save(NOTES, "w2", &json!({"folder": "work", "text": "plan"}))
        .await;
    let posted = app
        .post(&path(""), &json!({"_id": "w3", "folder": "work"}))
        .await
        .json_ok(StatusCode::CREATED);
    assert_eq!(posted["id"], "w3");
    let before = state(&alice).await;

    // Nothing goes out of the folder, comes into it, or is made outside it.
    forbidden(
        app.put(
            &path("w1"),
            &json!({"_rev": w1_rev, "folder": "home", "text": "moved"}),
        )
        .await,
        &put_scope,
    );
    // A note it cannot see is refused as an edit of a missing note is:
    // a conflict, whether its revision is the right one or not.
    let h1_rev = alice.doc(NOTES, "h1").await["_rev"].clone();
    for (id, rev) in [("h1", h1_rev.clone()), ("never-written", h1_rev)] {
        app.put(
            &path(id),
            &json!({"_rev": rev, "folder": "work", "text": "taken"}),
        )
        .await
        .expect_error(StatusCode::CONFLICT, "conflict");
    }
    forbidden(
        app.put(&path("h2"), &json!({"folder": "home"})).await,
        &put_scope,
    );
    forbidden(
        app.post(&path(""), &json!({"_id": "h3", "folder": "home"}))
            .await,
        &format!("{NOTES}:POST"),
    );
    forbidden(
        app.put(&path("h2"), &json!({"text": "no folder at all"}))
            .await,
        &put_scope,
    );
    // Nor may it delete: DELETE is not in its scope.
    forbidden(
        app.delete(&path(&format!("w1?rev={w1_rev}"))).await,
        &format!("{NOTES}:DELETE"),
    );
    assert_eq!(
        state(&alice).await,
        before,
        "the refused writes changed nothing"
    );

    // In a batch, each document is judged alone.
    let results = app
        .post(
            &path("_bulk_docs"),
            &json!({"docs": [
                {"_id": "h2", "folder": "home"},
                {"_id": "w1", "_rev": w1_rev, "folder": "home"},
            ]}),
        )
        .await
        .json_ok(StatusCode::CREATED);
    let results = results.as_array().expect("results");
    assert_eq!(results.len(), 2, "{results:?}");
    for (r, id) in results.iter().zip(["h2", "w1"]) {
        assert_eq!(r["id"], id, "{r}");
        assert_eq!(r["error"], "forbidden", "{r}");
    }
    assert_eq!(
        state(&alice).await,
        before,
        "the refused batch changed nothing"
    );

    // Its feeds list work notes only.
    assert_eq!(app.changed_ids(NOTES, "").await, ["w1", "w2", "w3"]);
    assert_eq!(app.all_doc_ids(NOTES, "").await, ["w1", "w2", "w3"]);
    // A note Alice moves out of the folder leaves the app's view.
    let moved = alice
        .save(
            NOTES,
            "w2",
            &json!({"_rev": alice.doc(NOTES, "w2").await["_rev"], "folder": "home"}),
        )
        .await;
    assert_eq!(app.changed_ids(NOTES, "").await, ["w1", "w3"]);
    hidden(app.get(&path("w2")).await);
    assert_eq!(alice.doc(NOTES, "w2").await["_rev"], moved);
    assert_eq!(alice.doc(NOTES, "h1").await["folder"], "home");
}

async fn a_read_only_token_cannot_write(server: Server) {
    let alice = alice_writes_her_notes(&server).await;
    let before = state(&alice).await;
    let app = server.couch(&format!("{NOTES}:GET")).await;
    let a = app.doc(NOTES, "a").await;

    forbidden(
        app.put(&path("a"), &json!({"_rev": a["_rev"], "text": "changed"}))
            .await,
        &format!("{NOTES}:PUT"),
    );
    forbidden(
        app.put(&path("w2"), &json!({"text": "new"})).await,
        &format!("{NOTES}:PUT"),
    );
    forbidden(
        app.post(&path(""), &json!({"_id": "w3"})).await,
        &format!("{NOTES}:POST"),
    );
    forbidden(
        app.delete(&path(&format!("a?rev={}", a["_rev"].as_str().unwrap())))
            .await,
        &format!("{NOTES}:DELETE"),
    );
    forbidden(
        app.delete(&format!("/data/{NOTES}/")).await,
        &format!("{NOTES}:DELETE"),
    );
    forbidden(
        app.put(&path("_design/x"), &json!({"language": "query"}))
            .await,
        &format!("{NOTES}:PUT"),
    );
    // Another doctype is out of reach altogether.
    forbidden(
        app.get("/data/com.example.other/x").await,
        "com.example.other:GET",
    );
    forbidden(
        app.put("/data/com.example.other/x", &json!({})).await,
        "com.example.other:PUT",
    );

    // A batch from a credential that may write nothing is refused whole,
    // before its body is read (a huge body costs nothing to refuse).
    forbidden(
        app.post(
            &path("_bulk_docs"),
            &json!({"docs": [
                {"_id": "h2", "text": "new"},
                {"_id": "a", "_rev": a["_rev"], "text": "changed"},
                {"_id": "b", "_rev": alice.doc(NOTES, "b").await["_rev"], "_deleted": true},
            ]}),
        )
        .await,
        &format!("{NOTES}:POST"),
    );
    assert_eq!(
        state(&alice).await,
        before,
        "the read-only app changed nothing"
    );
    let doctypes = alice.get_json("/data/_all_doctypes", StatusCode::OK).await;
    assert_eq!(doctypes, json!([NOTES]));
}

async fn a_writer_cannot_delete_or_a_creator_update_through_another_route(server: Server) {
    let alice = alice_writes_her_notes(&server).await;
    let before = state(&alice).await;
    let a = alice.doc(NOTES, "a").await;

    // PUT with `_deleted` is a deletion: it needs DELETE.
    let editor = server.couch(&format!("{NOTES}:GET,PUT")).await;
    forbidden(
        editor
            .put(&path("a"), &json!({"_rev": a["_rev"], "_deleted": true}))
            .await,
        &format!("{NOTES}:DELETE"),
    );
    // POST of an existing id with its rev is an update: it needs PUT.
    let creator = server.couch(&format!("{NOTES}:GET,POST")).await;
    forbidden(
        creator
            .post(
                &format!("/data/{NOTES}/"),
                &json!({"_id": "a", "_rev": a["_rev"], "text": "overwritten"}),
            )
            .await,
        &format!("{NOTES}:PUT"),
    );
    assert_eq!(state(&alice).await, before, "nothing changed");
    // What each may do still works.
    let created = creator
        .post(
            &format!("/data/{NOTES}/"),
            &json!({"_id": "fresh", "text": "new"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created}");
    let edited = editor
        .put(&path("a"), &json!({"_rev": a["_rev"], "text": "edited"}))
        .await;
    assert_eq!(edited.status, StatusCode::CREATED, "{edited}");
}

/// What a hidden note and a note never written answer, side by side:
/// status and body must be the same bytes.
async fn same(app: &Couch, method: reqwest::Method, hidden: &str, missing: &str, body: &str) {
    let a = app
        .send_raw(method.clone(), &path(hidden), body.to_owned())
        .await;
    let b = app.send_raw(method, &path(missing), body.to_owned()).await;
    assert_eq!(
        (a.status, &a.body),
        (b.status, &b.body),
        "a hidden note answered unlike a missing one:\n{a}\n{b}"
    );
}

/// A hostile app with a folder token probes Alice's home notes through
/// attachments, revisions, deletions and `_find`'s statistics: every answer
/// is the one a note never written gets.
async fn a_folder_token_cannot_tell_hidden_notes_from_missing_ones(server: Server) {
    use reqwest::Method;
    let alice = alice_writes_her_notes(&server).await;
    let h5 = alice
        .save(
            NOTES,
            "h5",
            &json!({"folder": "home", "email": "carol@example.org",
                "_attachments": {"f.txt": {"content_type": "text/plain", "data": "aGVsbG8="}}}),
        )
        .await;
    let h6 = alice.save(NOTES, "h6", &json!({"folder": "home"})).await;
    alice.remove(NOTES, "h6", &h6).await;
    alice
        .post(
            &path("_index"),
            &json!({"index": {"fields": ["email"]}, "ddoc": "ix", "name": "email"}),
        )
        .await
        .json_ok(StatusCode::OK);
    let bogus = "1-0123456789abcdef0123456789abcdef";
    for scope in [
        format!("{NOTES}:GET:work:folder"),
        format!("{NOTES}:GET,PUT:work:folder"),
        format!("{NOTES}:GET:w1,w2"),
    ] {
        let app = server.couch(&scope).await;
        for rev in [h5.as_str(), bogus] {
            let q = format!("?rev={rev}");
            same(
                &app,
                Method::GET,
                &format!("h5/f.txt{q}"),
                &format!("nX/f.txt{q}"),
                "",
            )
            .await;
            same(
                &app,
                Method::GET,
                &format!("h5/nope{q}"),
                &format!("nX/f.txt{q}"),
                "",
            )
            .await;
            same(
                &app,
                Method::DELETE,
                &format!("h5/nope{q}"),
                &format!("nX/nope{q}"),
                "",
            )
            .await;
            same(
                &app,
                Method::DELETE,
                &format!("h5/f.txt{q}"),
                &format!("nX/f.txt{q}"),
                "",
            )
            .await;
            same(
                &app,
                Method::PUT,
                &format!("h5/g.txt{q}"),
                &format!("nX/g.txt{q}"),
                "x",
            )
            .await;
        }
        same(&app, Method::GET, "h5/f.txt", "nX/f.txt", "").await;
        for q in [
            "",
            "?open_revs=all",
            "?revs_info=true",
            &format!("?open_revs=[\"{h5}\"]&latest=true"),
        ] {
            same(&app, Method::GET, &format!("h5{q}"), &format!("nX{q}"), "").await;
            same(&app, Method::GET, &format!("h6{q}"), &format!("nX{q}"), "").await;
        }
        // _find's statistics count only what the token reads.
        let stats = |sel: serde_json::Value| {
            let app = &app;
            async move {
                let mut r = app
                    .post(
                        &path("_find"),
                        &json!({"selector": sel, "execution_stats": true}),
                    )
                    .await
                    .json_ok(StatusCode::OK);
                r["execution_stats"]
                    .as_object_mut()
                    .expect("stats")
                    .remove("execution_time_ms");
                r
            }
        };
        assert_eq!(
            stats(json!({"email": {"$gte": "c", "$lt": "d"}})).await,
            stats(json!({"email": {"$gte": "x", "$lt": "y"}})).await,
            "{scope}"
        );
    }
    // The owner's note is untouched.
    assert_eq!(alice.doc(NOTES, "h5").await["_rev"], h5);
}
