//! A doctype maintains at most `MAX_INDEXES` distinct indexes: each write
//! of a document replaces its entry in every one, under the writers' lock
//! every tenant shares, and entries are not counted by the quota. One
//! design document listing thousands made every write of the doctype
//! insert thousands of rows. On both engines.

mod common;

use common::cloud;
use nuage_docs::DocError;
use nuage_store::MAX_INDEXES;
use nuage_store::testing::TestDb;
use serde_json::{Map, Value, json};

const NOTES: &str = "io.example.notes";

/// A query design document defining an index on each of `fields`.
fn ddoc(fields: impl Iterator<Item = String>) -> Value {
    let views: Map<String, Value> = fields
        .map(|f| {
            let view = json!({"map": {"fields": {&f: "asc"}}, "reduce": "_count",
                              "options": {"def": {"fields": [&f]}}});
            (format!("by-{f}"), view)
        })
        .collect();
    json!({"language": "query", "views": views})
}

async fn a_doctype_maintains_a_bounded_number_of_indexes(db: &TestDb) {
    let c = cloud(db).await;
    let d = c.docs.db(&c.inst, &c.owner, NOTES).unwrap();
    let refused = d
        .put(
            "_design/many",
            ddoc((0..=MAX_INDEXES).map(|i| format!("f{i}"))),
            None,
            true,
        )
        .await
        .unwrap_err();
    let DocError::Refused(reason) = &refused else {
        panic!("{refused:?}")
    };
    assert!(reason.contains("DELETE _index"), "{reason}");
    assert_eq!(
        d.list_indexes().await.unwrap()["total_rows"],
        1,
        "only _all_docs"
    );
    // At the bound, accepted; one more, by any route, refused.
    d.put(
        "_design/many",
        ddoc((0..MAX_INDEXES).map(|i| format!("f{i}"))),
        None,
        true,
    )
    .await
    .unwrap();
    let one_more = d
        .create_index(json!({"index": {"fields": ["other"]}}))
        .await
        .unwrap_err();
    assert!(matches!(one_more, DocError::Refused(_)), "{one_more:?}");
    // A document with every field has one entry per index, no more.
    let mut doc: Map<String, Value> = (0..=MAX_INDEXES)
        .map(|i| (format!("f{i}"), json!(i)))
        .collect();
    doc.insert("other".into(), json!(1));
    d.put("n1", Value::Object(doc), None, true).await.unwrap();
    let entries = c
        .docs
        .store()
        .rows_of_instance(&c.inst)
        .await
        .into_iter()
        .find(|(t, _)| t == "index_entries")
        .unwrap()
        .1;
    assert_eq!(entries, MAX_INDEXES as i64);
}

nuage_store::on_both_engines!(a_doctype_maintains_a_bounded_number_of_indexes);
