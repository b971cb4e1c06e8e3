//! A `_find` has a time budget as well as a bound on rows: past it, the
//! query is refused with CouchDB's `timeout` and what to do. The budget is
//! set to zero here, so the refusal comes at the first row read, at once,
//! on both engines; rows outside a limited permission count against it.

mod common;

use common::{cloud, holding};
use nuage_core::Subject;
use nuage_docs::DocError;
use nuage_mango::MangoError;
use nuage_store::testing::TestDb;
use serde_json::json;
use std::time::Duration;

const NOTES: &str = "io.example.notes";

async fn a_find_past_its_time_budget_is_refused_with_what_to_do(db: &TestDb) {
    let mut c = cloud(db).await;
    let d = c.docs.db(&c.inst, &c.owner, NOTES).unwrap();
    let notes = (0..3)
        .map(|i| json!({"_id": format!("n{i}"), "owner": "bob", "n": i}))
        .collect();
    d.bulk_docs(notes, true).await.unwrap();
    d.create_index(json!({"index": {"fields": ["n"]}, "ddoc": "ix", "name": "n"}))
        .await
        .unwrap();
    let queries = [
        json!({"selector": {"owner": "bob"}}),
        json!({"selector": {"n": {"$gte": 0}}, "use_index": ["ix", "n"]}),
    ];
    // Within the budget, answered.
    for q in &queries {
        assert_eq!(
            d.find(q.clone()).await.unwrap()["docs"]
                .as_array()
                .unwrap()
                .len(),
            3
        );
    }
    c.docs.find_budget = Duration::ZERO;
    let alice = holding(Subject::CliToken, "io.example.notes:GET:alice:owner");
    // The owner, and a reader who may read none of the rows read.
    for who in [&c.owner, &alice] {
        let d = c.docs.db(&c.inst, who, NOTES).unwrap();
        for q in &queries {
            let refused = d.find(q.clone()).await.unwrap_err();
            assert_eq!(refused, DocError::Query(MangoError::Timeout(0)), "{q}");
            let reason = refused.to_string();
            assert!(
                reason.contains("add an index on the fields you select on"),
                "{reason}"
            );
        }
    }
}

/// While an index is built, `_find` answers from the in-memory pipeline
/// over the rows it read within its budget; what it then does with them
/// must stay within the budget too. A `fields` list is the caller's to
/// make as long as its body: each returned document is projected through
/// every one of its paths.
async fn a_long_fields_list_does_not_outrun_the_time_budget(db: &TestDb) {
    let mut c = cloud(db).await;
    c.docs.find_budget = Duration::from_secs(2);
    let d = c.docs.db(&c.inst, &c.owner, NOTES).unwrap();
    let notes = (0..6000)
        .map(|i| json!({"_id": format!("n{i:05}"), "n": i}))
        .collect();
    d.bulk_docs(notes, true).await.unwrap();
    // More documents than POST _index builds inline: still building (no
    // builder runs here), so `_find` takes the in-memory path.
    d.create_index(json!({"index": {"fields": ["n"]}, "ddoc": "ix", "name": "n"}))
        .await
        .unwrap();
    let fields: Vec<String> = (0..20_000).map(|i| format!("f{i}")).collect();
    let started = std::time::Instant::now();
    let answer = d
        .find(json!({"selector": {"n": {"$gte": 0}}, "fields": fields, "limit": 6000}))
        .await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "took {took:?}, past a budget of 2 s: {:?}",
        answer.map(|a| a["docs"].as_array().map(Vec::len))
    );
}

nuage_store::on_both_engines!(
    a_find_past_its_time_budget_is_refused_with_what_to_do,
    a_long_fields_list_does_not_outrun_the_time_budget
);
