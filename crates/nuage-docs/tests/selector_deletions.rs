//! A deletion is seen by, and may be made by, a caller limited by a
//! selector when the revision it deletes matched the selector — though a
//! tombstone's body is empty. The deletion of a document outside the
//! selector stays unknown to it: every answer about it is the one about a
//! document never written. On both engines.

mod common;

use common::{cloud, holding, seen};
use nuage_core::revs::Rev;
use nuage_core::{Access, Subject};
use nuage_docs::{BulkGetItem, ChangesQuery, DocError, GetAnswer, GetOptions, Meta, OpenRevs};
use nuage_store::testing::TestDb;
use serde_json::{Value, json};

const NOTES: &str = "io.example.notes";

fn access(scope: &str) -> Access {
    holding(Subject::CliToken, scope)
}

/// The ids (with `deleted`) of the whole `_changes` feed, as `d` sees it.
async fn feed(d: &nuage_docs::Db<'_>) -> Vec<(String, bool)> {
    let page = d
        .changes_page(&ChangesQuery::default(), 0, 1000)
        .await
        .unwrap();
    page.rows
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_owned(),
                r["deleted"] == json!(true),
            )
        })
        .collect()
}

async fn selector_limited_callers_see_and_make_deletions_of_their_documents(db: &TestDb) {
    let c = cloud(db).await;
    let (docs, inst) = (&c.docs, &c.inst);
    let o = docs.db(inst, &c.owner, NOTES).unwrap();
    let mut revs = std::collections::HashMap::new();
    for (id, who) in [
        ("a1", "alice"),
        ("a2", "alice"),
        ("a3", "alice"),
        ("b1", "bob"),
        ("b2", "bob"),
    ] {
        let (_, rev) = o
            .put(id, json!({"owner": who, "text": "some words"}), None, true)
            .await
            .unwrap();
        revs.insert(id, rev);
    }
    let reader = access("io.example.notes:GET:alice:owner");
    let writer = access("io.example.notes:GET,PUT,DELETE:alice:owner");
    let r = docs.db(inst, &reader, NOTES).unwrap();
    let w = docs.db(inst, &writer, NOTES).unwrap();

    // DELETE, PUT with `_deleted` and `_bulk_docs` with `_deleted`, of
    // alice's notes by alice's writer.
    w.delete_doc("a1", Some(revs["a1"].clone())).await.unwrap();
    w.put(
        "a2",
        json!({"_deleted": true}),
        Some(revs["a2"].clone()),
        true,
    )
    .await
    .unwrap();
    let bulk = w
        .bulk_docs(
            vec![json!({"_id": "a3", "_rev": revs["a3"].to_string(), "_deleted": true})],
            true,
        )
        .await
        .unwrap();
    assert!(bulk[0].is_ok(), "{bulk:?}");

    // Bob's note: refused exactly as a note never written.
    let bogus = Rev::parse("1-0123456789abcdef0123456789abcdef").unwrap();
    assert_eq!(
        seen(&w.delete_doc("b1", Some(revs["b1"].clone())).await),
        seen(&w.delete_doc("never", Some(revs["b1"].clone())).await)
    );
    assert_eq!(
        w.delete_doc("never", Some(bogus)).await.err(),
        Some(DocError::Conflict)
    );
    let bulk = |id: &str| json!({"_id": id, "_rev": revs["b1"].to_string(), "_deleted": true});
    let (b, n) = (
        w.bulk_docs(vec![bulk("b1")], true).await.unwrap(),
        w.bulk_docs(vec![bulk("never")], true).await.unwrap(),
    );
    assert!(
        matches!(
            (&b[..], &n[..]),
            (
                [Err((_, DocError::Conflict))],
                [Err((_, DocError::Conflict))]
            )
        ),
        "{b:?} {n:?}"
    );

    // The owner deletes bob's notes.
    o.delete_doc("b1", Some(revs["b1"].clone())).await.unwrap();
    o.delete_doc("b2", Some(revs["b2"].clone())).await.unwrap();

    // `_changes`: alice's reader sees her three deletions, none of bob's.
    let want: Vec<(String, bool)> = ["a1", "a2", "a3"]
        .iter()
        .map(|id| (id.to_string(), true))
        .collect();
    assert_eq!(feed(&r).await, want);
    assert_eq!(feed(&o).await.len(), 5);

    // GET: alice's deleted note is deleted; bob's is never written.
    let plain = GetOptions::default();
    assert_eq!(r.get("a1", &plain).await.err(), Some(DocError::deleted()));
    let never = seen(&r.get("never", &plain).await.map(|_| ()));
    assert_eq!(seen(&r.get("b1", &plain).await.map(|_| ())), never);
    // Its tombstone is there for a replicator (open_revs=all); bob's is not.
    let all = GetOptions {
        open_revs: Some(OpenRevs::All),
        ..Default::default()
    };
    let GetAnswer::OpenRevs(list) = r.get("a1", &all).await.unwrap() else {
        panic!("open_revs answers a list")
    };
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["ok"]["_deleted"], json!(true), "{list:?}");
    let GetAnswer::OpenRevs(list) = r.get("b1", &all).await.unwrap() else {
        panic!("open_revs answers a list")
    };
    assert_eq!(list, Vec::<Value>::new());

    // Recreated, it is judged by its new body; deleted again, by that one.
    let (_, tomb) = o
        .put("a1", json!({"owner": "bob"}), None, true)
        .await
        .unwrap();
    o.delete_doc("a1", Some(tomb)).await.unwrap();
    assert_eq!(
        feed(&r).await,
        [("a2".to_owned(), true), ("a3".to_owned(), true)]
    );
}

/// A replicator limited by a selector pulls what `_changes` shows it
/// through `_bulk_get`, as PouchDB does: the tombstone of a deletion it
/// sees (whose body, empty, matches no selector) must come, as it comes
/// through `open_revs`; a tombstone it may not see stays missing.
async fn a_selector_limited_replicator_pulls_the_deletions_it_sees(db: &TestDb) {
    let c = cloud(db).await;
    let (docs, inst) = (&c.docs, &c.inst);
    let o = docs.db(inst, &c.owner, NOTES).unwrap();
    let mut tombs = std::collections::HashMap::new();
    for (id, who) in [("a1", "alice"), ("b1", "bob")] {
        let (_, rev) = o.put(id, json!({"owner": who}), None, true).await.unwrap();
        let (_, tomb) = o.delete_doc(id, Some(rev)).await.unwrap();
        tombs.insert(id, tomb);
    }
    let reader = access("io.example.notes:GET:alice:owner");
    let r = docs.db(inst, &reader, NOTES).unwrap();
    assert_eq!(feed(&r).await, [("a1".to_owned(), true)]);
    let item = |id: &str, rev: Option<Rev>| BulkGetItem {
        id: id.to_owned(),
        rev,
        atts_since: Vec::new(),
    };
    let bulk_get = |items: Vec<BulkGetItem>| async {
        r.bulk_get(items, &Meta::default(), false)
            .await
            .unwrap()
            .to_value()
    };
    let got = bulk_get(vec![
        item("a1", Some(tombs["a1"].clone())),
        item("a1", None),
        item("b1", Some(tombs["b1"].clone())),
        item("b1", None),
    ])
    .await;
    let results = got["results"].as_array().unwrap();
    for (i, r) in results[..2].iter().enumerate() {
        assert_eq!(
            r["docs"][0]["ok"]["_deleted"],
            json!(true),
            "item {i}: {got}"
        );
        assert_eq!(
            r["docs"][0]["ok"]["_rev"],
            json!(tombs["a1"].to_string()),
            "{got}"
        );
    }
    // Bob's tombstone: exactly what a document never written answers.
    let never = bulk_get(vec![
        item("never", Some(tombs["b1"].clone())),
        item("never", None),
    ])
    .await;
    let strip = |v: &Value| v.to_string().replace("\"never\"", "\"b1\"");
    assert_eq!(strip(&never["results"][0]), results[2].to_string());
    assert_eq!(strip(&never["results"][1]), results[3].to_string());
}

nuage_store::on_both_engines!(
    selector_limited_callers_see_and_make_deletions_of_their_documents,
    a_selector_limited_replicator_pulls_the_deletions_it_sees
);
