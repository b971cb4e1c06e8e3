//! Mango indexes as index entries, on both engines: written in the
//! document's transaction, built in the background for existing documents
//! without losing a concurrent write, never a DDL statement, and nothing
//! left behind when an instance goes.

use nuage_core::revs::Rev;
use nuage_mango::encode_key;
use nuage_store::testing::{TestDb, new_doc};
use nuage_store::*;
use serde_json::{Value, json};

const T: &str = "com.example.films";

async fn instance(store: &Store, domain: &str) -> InstanceId {
    store.test_instance(domain).await
}

fn query_ddoc(fields: &[&str]) -> Value {
    json!({"language": "query", "views": {"by": {
        "map": {"fields": {}}, "reduce": "_count",
        "options": {"def": {"fields": fields}},
    }}})
}

/// The (key, doc id) pairs of the doctype's single index.
async fn keys(store: &Store, inst: &InstanceId) -> Vec<(Vec<u8>, String)> {
    store
        .index_entries_of(inst, T)
        .await
        .into_iter()
        .map(|(_, k, id)| (k, id))
        .collect()
}

async fn build_all(store: &Store, inst: &InstanceId) {
    for _ in 0..1000 {
        if store.build_step(inst, T, 100).await.unwrap() == 0 {
            return;
        }
    }
    panic!("the build never finished");
}

async fn entries_follow_every_write_in_its_transaction(db: &TestDb) {
    let store = db.open().await;
    let inst = instance(&store, "a.test").await;
    store
        .write_docs(&inst, T, vec![new_doc("_design/i", query_ddoc(&["year"]))])
        .await
        .unwrap();
    build_all(&store, &inst).await;
    store
        .write_docs(
            &inst,
            T,
            vec![
                new_doc("a", json!({"year": 1999})),
                new_doc("b", json!({"title": "no year"})),
                new_doc("c", json!({"year": "unknown"})),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        keys(&store, &inst).await,
        vec![
            (encode_key(&[json!(1999)]), "a".to_owned()),
            (encode_key(&[json!("unknown")]), "c".to_owned()),
        ],
        "documents without the field are not in the index; the design document never is"
    );
    // An update moves the entry; a deletion removes it.
    store
        .write_docs(
            &inst,
            T,
            vec![
                DocWrite::Edit {
                    id: "a".into(),
                    parent: Some(Rev::parse("1-ra").unwrap()),
                    new_id: "x".into(),
                    deleted: false,
                    body: json!({"year": 2001}).to_string(),
                    stubs_from: Vec::new(),
                },
                DocWrite::Edit {
                    id: "c".into(),
                    parent: Some(Rev::parse("1-rc").unwrap()),
                    new_id: "y".into(),
                    deleted: true,
                    body: "{}".into(),
                    stubs_from: Vec::new(),
                },
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        keys(&store, &inst).await,
        vec![(encode_key(&[json!(2001)]), "a".to_owned())]
    );
    // A replicated conflict whose branch wins takes the winner's key.
    store
        .write_docs(
            &inst,
            T,
            vec![DocWrite::Replicate {
                id: "a".into(),
                path: vec![Rev::parse("2-zzz").unwrap(), Rev::parse("1-ra").unwrap()],
                deleted: false,
                body: json!({"year": 1950}).to_string(),
                stubs_from: Vec::new(),
            }],
        )
        .await
        .unwrap();
    let head = store.doc_head(&inst, T, "a").await.unwrap().unwrap();
    assert_eq!(head.rev.to_string(), "2-zzz");
    assert_eq!(
        keys(&store, &inst).await,
        vec![(encode_key(&[json!(1950)]), "a".to_owned())]
    );
    // Deleting the design document drops the index and its entries.
    store
        .write_docs(
            &inst,
            T,
            vec![DocWrite::Edit {
                id: "_design/i".into(),
                parent: Some(Rev::parse("1-r_designi").unwrap()),
                new_id: "gone".into(),
                deleted: true,
                body: "{}".into(),
                stubs_from: Vec::new(),
            }],
        )
        .await
        .unwrap();
    assert!(store.index_entries_of(&inst, T).await.is_empty());
    assert!(store.index_builds(&inst, T).await.unwrap().is_empty());
}

async fn an_index_on_existing_documents_is_built_without_missing_a_write(db: &TestDb) {
    let store = db.open().await;
    let inst = instance(&store, "a.test").await;
    let docs: Vec<DocWrite> = (0..1200)
        .map(|i| new_doc(&format!("d{i:04}"), json!({"n": i})))
        .collect();
    store.write_docs(&inst, T, docs).await.unwrap();
    store
        .write_docs(&inst, T, vec![new_doc("_design/i", query_ddoc(&["n"]))])
        .await
        .unwrap();
    let builds = store.index_builds(&inst, T).await.unwrap();
    let build = builds.values().next().expect("registered");
    assert!(!build.ready(), "1,200 documents wait for the builder");
    // A step, then writes racing the rest of the build: an update of a
    // document not yet indexed, a new document, a deletion.
    assert_eq!(store.build_step(&inst, T, 500).await.unwrap(), 1);
    let progress = store.index_builds(&inst, T).await.unwrap();
    let pct = progress.values().next().unwrap().percent();
    assert!((30..=50).contains(&pct), "about 500 of 1,201: {pct} %");
    store
        .write_docs(
            &inst,
            T,
            vec![
                DocWrite::Edit {
                    id: "d1100".into(),
                    parent: Some(Rev::parse("1-rd1100").unwrap()),
                    new_id: "u".into(),
                    deleted: false,
                    body: json!({"n": -1}).to_string(),
                    stubs_from: Vec::new(),
                },
                new_doc("late", json!({"n": 5000})),
                DocWrite::Edit {
                    id: "d0001".into(),
                    parent: Some(Rev::parse("1-rd0001").unwrap()),
                    new_id: "del".into(),
                    deleted: true,
                    body: "{}".into(),
                    stubs_from: Vec::new(),
                },
            ],
        )
        .await
        .unwrap();
    build_all(&store, &inst).await;
    assert!(
        store
            .index_builds(&inst, T)
            .await
            .unwrap()
            .values()
            .all(IndexBuild::ready)
    );
    let got = keys(&store, &inst).await;
    let mut want: Vec<(Vec<u8>, String)> = (0..1200)
        .filter(|i| *i != 1 && *i != 1100)
        .map(|i| (encode_key(&[json!(i)]), format!("d{i:04}")))
        .collect();
    want.push((encode_key(&[json!(-1)]), "d1100".into()));
    want.push((encode_key(&[json!(5000)]), "late".into()));
    want.sort();
    assert_eq!(got.len(), want.len(), "each live document exactly once");
    assert_eq!(got, want);
}

async fn indexes_never_run_ddl_and_a_removed_instance_leaves_nothing(db: &TestDb) {
    let store = db.open().await;
    let before = store.schema_index_count().await;
    let mut instances = Vec::new();
    for n in 0..5 {
        let inst = instance(&store, &format!("i{n}.test")).await;
        let mut writes: Vec<DocWrite> = (0..20)
            .map(|i| {
                new_doc(
                    &format!("d{i}"),
                    json!({"a": i, "b": format!("s{i}"), "c": [i]}),
                )
            })
            .collect();
        for f in ["a", "b", "c"] {
            writes.push(new_doc(&format!("_design/{f}"), query_ddoc(&[f])));
        }
        store.write_docs(&inst, T, writes).await.unwrap();
        build_all(&store, &inst).await;
        assert_eq!(store.index_entries_of(&inst, T).await.len(), 60);
        instances.push(inst);
    }
    assert_eq!(
        store.schema_index_count().await,
        before,
        "15 indexes on 5 instances: no SQL index created"
    );
    let gone = instances.remove(0);
    assert!(store.remove_instance_rows(&gone).await);
    for (table, n) in store.rows_of_instance(&gone).await {
        assert_eq!(n, 0, "{table} still holds rows of a removed instance");
    }
    for other in &instances {
        assert_eq!(
            store.index_entries_of(other, T).await.len(),
            60,
            "neighbours untouched"
        );
    }
}

/// Two builds share one step's budget: the second gets what the first left,
/// and must not take a short page for the end of its documents. Run with
/// both registration orders, since builds go in index-id order.
async fn two_builds_sharing_a_step_each_index_every_document(db: &TestDb) {
    let store = db.open().await;
    let inst = instance(&store, "a.test").await;
    for (doctype, first, second) in [("com.example.ab", "a", "b"), ("com.example.ba", "b", "a")] {
        let docs: Vec<DocWrite> = (0..1200)
            .map(|i| new_doc(&format!("d{i:04}"), json!({"a": i, "b": -i})))
            .collect();
        store.write_docs(&inst, doctype, docs).await.unwrap();
        store
            .write_docs(
                &inst,
                doctype,
                vec![new_doc("_design/1", query_ddoc(&[first]))],
            )
            .await
            .unwrap();
        assert_eq!(store.build_step(&inst, doctype, 1100).await.unwrap(), 1);
        store
            .write_docs(
                &inst,
                doctype,
                vec![new_doc("_design/2", query_ddoc(&[second]))],
            )
            .await
            .unwrap();
        for _ in 0..1000 {
            if store.build_step(&inst, doctype, 500).await.unwrap() == 0 {
                break;
            }
        }
        assert_eq!(
            store.index_entries_of(&inst, doctype).await.len(),
            2400,
            "{doctype}: 1,200 documents in each index"
        );
    }
}

nuage_store::on_both_engines!(
    two_builds_sharing_a_step_each_index_every_document,
    entries_follow_every_write_in_its_transaction,
    an_index_on_existing_documents_is_built_without_missing_a_write,
    indexes_never_run_ddl_and_a_removed_instance_leaves_nothing,
);
