//! Removing an instance leaves no row, index entry or blob of it, counted,
//! and changes nothing of its neighbour; a removal interrupted after its
//! first step is finished by the remover of a fresh start. On both engines.

use nuage_blob::Blobs;
use nuage_core::{Access, InstanceId, Subject};
use nuage_docs::{Docs, RemovalProgress, Remover};
use nuage_store::Store;
use nuage_store::testing::TestDb;
use serde_json::json;
use std::time::Duration;

const NOTES: &str = "com.example.notes";
const FILMS: &str = "com.example.films";

fn owner() -> Access {
    Access::owner(Subject::CliToken)
}

/// An instance with documents in two doctypes, attachments (blobs), a
/// Mango index built over existing documents, `_local` documents and a
/// token.
async fn populated(docs: &Docs, domain: &str, n: usize) -> InstanceId {
    let store = docs.store();
    let inst = store.test_instance(domain).await;
    let access = owner();
    for doctype in [NOTES, FILMS] {
        let db = docs.db(&inst, &access, doctype).unwrap();
        let batch = (0..n)
            .map(|i| json!({"_id": format!("d{i:05}"), "n": i, "who": domain}))
            .collect();
        db.bulk_docs(batch, true).await.unwrap();
        db.create_index(json!({"index": {"fields": ["n"]}, "name": "by-n"}))
            .await
            .unwrap();
        for i in 0..3 {
            db.put_attachment(
                &format!("with-file-{i}"),
                "file.txt",
                None,
                "text/plain",
                format!("{domain} {doctype} {i}").into_bytes(),
            )
            .await
            .unwrap();
        }
        db.put_local("checkpoint", json!({"seq": 1}), None)
            .await
            .unwrap();
    }
    store.test_token(&inst, &format!("token of {domain}")).await;
    inst
}

/// What an instance holds, counted: rows of every table (index entries
/// included), and blobs.
async fn holdings(store: &Store, blobs: &Blobs, inst: &InstanceId) -> Vec<(String, i64)> {
    let mut out = store.rows_of_instance(inst).await;
    out.push(("blobs".into(), blobs.count(inst).await.unwrap() as i64));
    out
}

/// A store on `db`, and the document service over it with blobs in a
/// folder of their own (kept while the `TempDir` lives).
async fn service(db: &TestDb, blobs: &tempfile::TempDir) -> (Store, Blobs, Docs) {
    let store = db.open().await;
    let blobs = Blobs::new(blobs.path());
    let docs = Docs::new(store.clone(), blobs.clone());
    (store, blobs, docs)
}

fn assert_nothing_left(holdings: &[(String, i64)]) {
    for (what, n) in holdings {
        assert_eq!(*n, 0, "{what}: {n} left of a removed instance");
    }
}

fn assert_holds_everything(holdings: &[(String, i64)]) {
    for what in [
        "docs",
        "revs",
        "doctypes",
        "local_docs",
        "doc_indexes",
        "index_entries",
        "tokens",
        "instances",
        "blobs",
    ] {
        let n = holdings
            .iter()
            .find(|(w, _)| w == what)
            .map_or(0, |(_, n)| *n);
        assert!(n > 0, "the test instance holds {what}: {holdings:?}");
    }
}

async fn removing_an_instance_leaves_no_row_entry_or_blob_of_it(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let (store, blobs, docs) = service(db, &dir).await;
    // More documents than one purge chunk, in each doctype.
    let gone = populated(&docs, "a.test", 700).await;
    let kept = populated(&docs, "b.test", 50).await;
    let gone_before = holdings(&store, &blobs, &gone).await;
    assert_holds_everything(&gone_before);
    let kept_before = holdings(&store, &blobs, &kept).await;
    assert_holds_everything(&kept_before);

    let removal = docs.remove_instance(&gone).await.unwrap().unwrap();
    assert_eq!(removal.pending().domain, "a.test");
    assert!(
        docs.remove_instance(&gone).await.unwrap().is_none(),
        "a removal begins once"
    );
    assert!(store.instance_by_domain("a.test").await.unwrap().is_none());
    let mut seen = Vec::new();
    removal.finish(|p| seen.push(p)).await.unwrap();

    assert_nothing_left(&holdings(&store, &blobs, &gone).await);
    assert_eq!(
        holdings(&store, &blobs, &kept).await,
        kept_before,
        "the neighbour keeps every row, entry and blob"
    );
    // Progress went up in chunks to the total counted, then blobs, then done.
    let RemovalProgress::Rows { total, .. } = seen[0] else {
        panic!("{seen:?}")
    };
    assert!(total > 1400, "{seen:?}");
    let rows: Vec<u64> = seen
        .iter()
        .filter_map(|p| match p {
            RemovalProgress::Rows { done, .. } => Some(*done),
            _ => None,
        })
        .collect();
    assert!(rows.windows(2).all(|w| w[0] < w[1]), "{rows:?}");
    assert_eq!(rows.last(), Some(&total));
    assert!(rows.len() > 3, "{rows:?}");
    assert_eq!(
        &seen[seen.len() - 2..],
        &[RemovalProgress::Blobs, RemovalProgress::Done]
    );
    // The neighbour still works as before.
    let access = owner();
    let db = docs.db(&kept, &access, NOTES).unwrap();
    let found = db
        .find(json!({"selector": {"n": {"$gte": 45}}}))
        .await
        .unwrap();
    assert_eq!(found["docs"].as_array().map(Vec::len), Some(5), "{found}");
}

async fn the_domain_of_a_removed_instance_is_free_at_once(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let (store, blobs, docs) = service(db, &dir).await;
    let gone = populated(&docs, "a.test", 10).await;
    // Its purge not even begun, the domain serves a new, empty instance.
    let _left_to_the_remover = docs.remove_instance(&gone).await.unwrap().unwrap();
    let again = store.test_instance("a.test").await;
    assert_ne!(again, gone);
    let access = owner();
    let db = docs.db(&again, &access, NOTES).unwrap();
    let all = db
        .find(json!({"selector": {"n": {"$gte": 0}}}))
        .await
        .unwrap();
    assert_eq!(all["docs"], json!([]), "{all}");
    assert!(store.list_doctypes(&again).await.unwrap().is_empty());
    assert_eq!(blobs.count(&again).await.unwrap(), 0);
}

async fn a_removal_interrupted_after_its_first_step_is_finished_on_restart(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let (gone, kept, kept_before) = {
        let (store, blobs, docs) = service(db, &dir).await;
        let gone = populated(&docs, "a.test", 600).await;
        let kept = populated(&docs, "b.test", 20).await;
        let kept_before = holdings(&store, &blobs, &kept).await;
        // The first step only, as if the process died right after it.
        drop(docs.remove_instance(&gone).await.unwrap().unwrap());
        assert!(store.instance_by_domain("a.test").await.unwrap().is_none());
        assert!(
            holdings(&store, &blobs, &gone)
                .await
                .iter()
                .any(|(_, n)| *n > 0)
        );
        store.close().await;
        (gone, kept, kept_before)
    };

    // A fresh start: the remover finds the removal and finishes it.
    let (store, blobs, docs) = service(db, &dir).await;
    let remover = Remover::start(docs.clone());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !store.pending_removals().await.unwrap().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the remover did not finish within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    remover.shutdown().await;
    assert_nothing_left(&holdings(&store, &blobs, &gone).await);
    assert_eq!(holdings(&store, &blobs, &kept).await, kept_before);
}

async fn the_remover_is_woken_by_a_removal_in_its_process(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let (store, blobs, docs) = service(db, &dir).await;
    let remover = Remover::start(docs.clone());
    let gone = populated(&docs, "a.test", 20).await;
    // As the admin API does: begin, and leave the purge to the remover.
    drop(docs.remove_instance(&gone).await.unwrap().unwrap());
    // Well before its one-minute poll.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !store.pending_removals().await.unwrap().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "not woken");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::timeout(Duration::from_secs(5), remover.shutdown())
        .await
        .expect("the remover stops at once when idle");
    assert_nothing_left(&holdings(&store, &blobs, &gone).await);
}

nuage_store::on_both_engines!(
    removing_an_instance_leaves_no_row_entry_or_blob_of_it,
    the_domain_of_a_removed_instance_is_free_at_once,
    a_removal_interrupted_after_its_first_step_is_finished_on_restart,
    the_remover_is_woken_by_a_removal_in_its_process,
);
