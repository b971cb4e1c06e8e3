//! What the quota counts against what an instance makes the database hold:
//! a replicated document brings its revision history (`_revisions`, up to
//! the doctype's `_revs_limit`, 1,000 by default), one row per revision,
//! and the quota counts the bodies only.
//!
//! Left failing (ignored) on purpose: counting history rows changes the
//! storage accounting of every write, stemming and a migration of the
//! stored totals; see the hostile review's report.

mod common;

use common::cloud;
use nuage_store::NewInstance;
use nuage_store::testing::TestDb;
use serde_json::json;

const NOTES: &str = "io.example.notes";

async fn a_replicated_history_counts_against_the_quota(db: &TestDb) {
    let c = cloud(db).await;
    let store = c.docs.store();
    let inst = store
        .create_instance(NewInstance {
            domain: "small.test".into(),
            quota_bytes: Some(100_000),
            ..Default::default()
        })
        .await
        .unwrap()
        .id;
    let d = c.docs.db(&inst, &c.owner, NOTES).unwrap();
    let ids: Vec<String> = (0..1000).map(|i| format!("{i:032x}")).collect();
    let batch = (0..100)
        .map(|n| {
            json!({"_id": format!("n{n}"), "_rev": format!("1000-{}", ids[0]),
                   "_revisions": {"start": 1000, "ids": ids}, "n": n})
        })
        .collect();
    let written = d.bulk_docs(batch, false).await;
    let rows = store.rows_of_instance(&inst).await;
    let revs = rows.iter().find(|(t, _)| t == "revs").unwrap().1;
    let used = store.usage(&inst).await.unwrap().used;
    // Every revision row holds at least its 32-character id: a quota of
    // 100 kB cannot let 100,000 of them in.
    assert!(
        written.is_err() || used >= revs * 32,
        "{revs} revision rows held, {used} bytes counted against a quota of 100 kB"
    );
}

mod sqlite {
    #[tokio::test]
    #[ignore = "history rows are not counted by the quota (finding of the hostile review)"]
    async fn a_replicated_history_counts_against_the_quota() {
        let db = nuage_store::testing::TestDb::new(nuage_store::Engine::Sqlite).await;
        super::a_replicated_history_counts_against_the_quota(&db).await
    }
}

mod postgres {
    #[tokio::test]
    #[ignore = "history rows are not counted by the quota (finding of the hostile review)"]
    async fn a_replicated_history_counts_against_the_quota() {
        let db = nuage_store::testing::TestDb::new(nuage_store::Engine::Postgres).await;
        super::a_replicated_history_counts_against_the_quota(&db).await
    }
}
