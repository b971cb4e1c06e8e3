//! `_find` answers correctly while an index over existing documents is
//! still being built (more documents than POST `_index` builds before it
//! answers), says so in `_explain`, and uses the index once it is built.

use nuage_blob::Blobs;
use nuage_core::{Access, Permissions, Subject};
use nuage_docs::Docs;
use nuage_store::Store;
use nuage_store::testing::TestDb;
use serde_json::{Value, json};

const FILMS: &str = "com.example.films";

async fn a_query_during_a_build_gets_the_indexed_answer(db: &TestDb) {
    let store: Store = db.open().await;
    let inst = store.test_instance("a.test").await;
    let dir = tempfile::tempdir().unwrap();
    let docs = Docs::new(store.clone(), Blobs::new(dir.path()));
    let owner = Access {
        subject: Subject::CliToken,
        permissions: Permissions::Owner,
    };
    let db = docs.db(&inst, &owner, FILMS).unwrap();
    let films: Vec<Value> = (0..6000)
        .map(|i| json!({"_id": format!("f{i:05}"), "year": 1900 + (i * 7) % 120}))
        .collect();
    db.bulk_docs(films, true).await.unwrap();
    db.create_index(json!({"index": {"fields": ["year"]}, "name": "by-year"}))
        .await
        .unwrap();
    let query =
        json!({"selector": {"year": {"$gte": 2010}}, "sort": [{"year": "desc"}], "limit": 30});
    let explain = db.explain(query.clone()).await.unwrap();
    let state = explain["sql"]["state"].as_str().unwrap().to_owned();
    assert!(
        state.starts_with("building"),
        "6,000 documents outlast the inline build: {explain}"
    );
    let during = db.find(query.clone()).await.unwrap();

    for _ in 0..100 {
        if store.build_step(&inst, FILMS, 1000).await.unwrap() == 0 {
            break;
        }
    }
    let explain = db.explain(query.clone()).await.unwrap();
    assert_eq!(explain["sql"]["state"], "ready", "{explain}");
    let after = db.find(query).await.unwrap();
    assert_eq!(
        during["docs"], after["docs"],
        "the same answer during and after the build"
    );
    let years: Vec<i64> = after["docs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["year"].as_i64().unwrap())
        .collect();
    assert_eq!(years.len(), 30);
    assert!(
        years.windows(2).all(|w| w[0] >= w[1]) && years[0] == 2019,
        "{years:?}"
    );
}

nuage_store::on_both_engines!(a_query_during_a_build_gets_the_indexed_answer);
