//! What the quota counts against what an instance makes the database hold:
//! a replicated document brings its revision history (`_revisions`, up to
//! the doctype's `_revs_limit`, 1,000 by default), one row per revision,
//! and every row counts, not only the bodies (nuage-store `docs/usage.rs`).
//! Whatever removes a row frees exactly what its write added, and a
//! deletion still passes at a full quota. On both engines.

mod common;

use common::cloud;
use nuage_core::revs::Rev;
use nuage_store::NewInstance;
use nuage_store::testing::TestDb;
use serde_json::json;

const NOTES: &str = "io.example.notes";

/// An instance `small.test` with a quota of `bytes`.
async fn small_instance(store: &nuage_store::Store, bytes: i64) -> nuage_core::InstanceId {
    store
        .create_instance(NewInstance {
            domain: "small.test".into(),
            quota_bytes: Some(bytes),
            ..Default::default()
        })
        .await
        .unwrap()
        .id
}

async fn a_replicated_history_counts_against_the_quota(db: &TestDb) {
    let c = cloud(db).await;
    let store = c.docs.store();
    let inst = small_instance(store, 100_000).await;
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

/// Documents `d00`, `d01`, … carrying `pad`, written until the quota
/// refuses one.
async fn fill(d: &nuage_docs::Db<'_>, pad: &str) -> Vec<(String, Rev)> {
    let mut revs = Vec::new();
    for i in 0.. {
        match d
            .put(&format!("d{i:02}"), json!({"i": i, "pad": pad}), None, true)
            .await
        {
            Ok(r) => revs.push(r),
            Err(nuage_docs::DocError::QuotaExceeded { .. }) => break,
            Err(e) => panic!("{e:?}"),
        }
    }
    revs
}

/// The instance's total is the one its rows add up to.
async fn consistent(store: &nuage_store::Store, inst: &nuage_core::InstanceId, what: &str) {
    assert_eq!(
        store.usage(inst).await.unwrap().used,
        store.recounted_bytes(inst).await,
        "after {what}"
    );
}

/// The total the store keeps is the one its rows add up to after every
/// kind of write: edits, replicated histories and conflicts, stemming,
/// `_local` documents, deletions. Deleting every document leaves the
/// history's rows counted; deleting the doctype leaves nothing.
async fn every_row_is_counted_once_and_freed_once(db: &TestDb) {
    let c = cloud(db).await;
    let store = c.docs.store();
    let d = c.docs.db(&c.inst, &c.owner, NOTES).unwrap();
    let inst = &c.inst;
    let used = || async { store.usage(inst).await.unwrap().used };
    let consistent = |what: &'static str| consistent(store, inst, what);

    // Edits, one with an id that is not ASCII.
    let (_, a1) = d.put("a", json!({"t": "été"}), None, true).await.unwrap();
    let (_, a2) = d
        .put("a", json!({"t": "two"}), Some(a1), true)
        .await
        .unwrap();
    let (_, e1) = d.put("é", json!({}), None, true).await.unwrap();
    consistent("edits").await;
    let edits = used().await;

    // A replicated history of 20 revisions, and a conflict on `a`.
    let ids: Vec<String> = (0..20).map(|i| format!("{i:032x}")).collect();
    let written = d
        .bulk_docs(
            vec![
                json!({"_id": "b", "_rev": format!("20-{}", ids[0]),
                       "_revisions": {"start": 20, "ids": ids}, "n": 1}),
                json!({"_id": "a", "_rev": format!("2-{}", ids[1]), "n": 2}),
            ],
            false,
        )
        .await
        .unwrap();
    assert!(written.iter().all(Result::is_ok), "{written:?}");
    consistent("a replicated history").await;
    assert!(
        used().await >= edits + 21 * 64,
        "each of the 21 new rows counts"
    );

    // Stemming: 20 revisions down to 5 frees the rows it deletes.
    d.set_revs_limit(5).await.unwrap();
    let before = used().await;
    let (_, b21) = d
        .put(
            "b",
            json!({"n": 3}),
            Rev::parse(&format!("20-{}", ids[0])),
            true,
        )
        .await
        .unwrap();
    consistent("stemming").await;
    assert!(used().await < before, "16 rows went, one came");

    // `_local` documents.
    let l1 = d.put_local("cp", json!({"seq": 1}), None).await.unwrap();
    let l2 = d
        .put_local("cp", json!({"seq": 2, "more": "x"}), Some(l1))
        .await
        .unwrap();
    consistent("_local writes").await;
    d.delete_local("cp", Some(l2)).await.unwrap();
    consistent("a _local deletion").await;

    // Every document deleted, conflicts included: the history stays, and
    // with it what its rows count.
    d.delete_doc("a", Some(a2)).await.unwrap();
    d.delete_doc("a", Rev::parse(&format!("2-{}", ids[1])))
        .await
        .unwrap();
    d.delete_doc("b", Some(b21)).await.unwrap();
    d.delete_doc("é", Some(e1)).await.unwrap();
    consistent("deletions").await;
    let rows = store
        .rows_of_instance(&c.inst)
        .await
        .into_iter()
        .find(|(t, _)| t == "revs")
        .unwrap()
        .1;
    assert!(rows > 0 && used().await >= rows * 64, "{rows} rows");

    d.delete().await.unwrap();
    assert_eq!(used().await, 0, "a deleted doctype counts nothing");
    consistent("the doctype's deletion").await;
}

/// A deletion adds a tombstone's row, yet it passes at a full quota: the
/// owner can always make room. Anything that grows is still refused.
async fn a_deletion_passes_at_a_full_quota(db: &TestDb) {
    let c = cloud(db).await;
    let store = c.docs.store();
    let inst = small_instance(store, 3_000).await;
    let d = c.docs.db(&inst, &c.owner, NOTES).unwrap();
    let mut revs = fill(&d, "").await;
    assert!(revs.len() > 4, "{} documents fit", revs.len());
    let full = store.usage(&inst).await.unwrap().used;

    // One alone, then a batch of deletions.
    let (id, rev) = revs.pop().unwrap();
    d.delete_doc(&id, Some(rev)).await.unwrap();
    let batch = revs
        .iter()
        .skip(1)
        .map(|(id, rev)| json!({"_id": id, "_rev": rev.to_string(), "_deleted": true}))
        .collect();
    let deleted = d.bulk_docs(batch, true).await.unwrap();
    assert!(deleted.iter().all(Result::is_ok), "{deleted:?}");
    let used = store.usage(&inst).await.unwrap().used;
    assert!(
        used > full,
        "tombstones cost more than the bodies they free"
    );

    // A replicated deletion that brings history rows is not a deletion
    // alone: refused, as is a tombstone carrying content, and a new
    // document.
    let (id, rev) = &revs[0];
    let history = d
        .bulk_docs(
            vec![json!({"_id": id, "_rev": format!("3-{:032x}", 3), "_deleted": true,
                        "_revisions": {"start": 3, "ids": [format!("{:032x}", 3), format!("{:032x}", 2), rev.id]}})],
            false,
        )
        .await;
    assert!(
        matches!(
            &history.as_deref(),
            Ok([Err((_, nuage_docs::DocError::QuotaExceeded { .. }))])
        ),
        "{history:?}"
    );
    let padded = d
        .put(
            id,
            json!({"_deleted": true, "pad": "x".repeat(500)}),
            Some(rev.clone()),
            true,
        )
        .await;
    assert!(
        matches!(padded, Err(nuage_docs::DocError::QuotaExceeded { .. })),
        "{padded:?}"
    );
    let new = d.put("new", json!({}), None, true).await;
    assert!(
        matches!(new, Err(nuage_docs::DocError::QuotaExceeded { .. })),
        "{new:?}"
    );
    d.delete_doc(id, Some(rev.clone())).await.unwrap();
    consistent(store, &inst, "deletions at a full quota").await;
}

/// At a full quota, a batch's documents are judged one by one: the
/// deletions in it pass, a replicated deletion that brings history rows
/// and a new document are refused each with its own error, and a
/// replication's next batch is not refused whole for one of them.
async fn a_batch_at_the_quota_refuses_only_what_does_not_fit(db: &TestDb) {
    let c = cloud(db).await;
    let store = c.docs.store();
    let inst = small_instance(store, 4_000).await;
    let d = c.docs.db(&inst, &c.owner, NOTES).unwrap();
    let revs = fill(&d, &"x".repeat(40)).await;
    assert!(revs.len() > 4, "{} documents fit", revs.len());
    let seq_before = store
        .doctype_info(&inst, NOTES)
        .await
        .unwrap()
        .unwrap()
        .update_seq;

    // Replicated, as PouchDB pushes: a plain deletion, a deletion with two
    // revisions the server never saw, a new document, another deletion.
    let (a, a1) = &revs[0];
    let (b, b1) = &revs[1];
    let (e, e1) = &revs[2];
    let tomb = |id: &str, parent: &Rev| {
        json!({"_id": id, "_rev": format!("2-{:032x}", 2), "_deleted": true,
               "_revisions": {"start": 2, "ids": [format!("{:032x}", 2), parent.id]}})
    };
    let batch = vec![
        tomb(a, a1),
        json!({"_id": b, "_rev": format!("4-{:032x}", 4), "_deleted": true,
               "_revisions": {"start": 4, "ids": [format!("{:032x}", 4), format!("{:032x}", 3),
                                                  format!("{:032x}", 2), b1.id]}}),
        json!({"_id": "new", "_rev": format!("1-{:032x}", 1), "pad": "y".repeat(400)}),
        tomb(e, e1),
        json!({"_id": "photo", "_rev": format!("1-{:032x}", 5), "_attachments": {
            "p.png": {"content_type": "image/png", "data": "AAAA".repeat(2_000)}}}),
    ];
    let written = d.bulk_docs(batch, false).await.unwrap();
    assert_eq!(written.len(), 5, "{written:?}");
    assert!(written[0].is_ok(), "a deletion passes: {written:?}");
    assert!(written[3].is_ok(), "so does the one after: {written:?}");
    for (i, id) in [(1, b.as_str()), (2, "new"), (4, "photo")] {
        match &written[i] {
            Err((got, nuage_docs::DocError::QuotaExceeded { needed, usage })) => {
                assert_eq!(got, id);
                assert!(
                    *needed > 0 && usage.quota == Some(4_000),
                    "{needed} {usage:?}"
                );
            }
            other => panic!("{id}: {other:?}"),
        }
    }
    // What passed is written (two changes), what was refused is not.
    let info = store.doctype_info(&inst, NOTES).await.unwrap().unwrap();
    assert_eq!(info.update_seq, seq_before + 2);
    let gone = |id: &str| {
        let d = &d;
        let id = id.to_owned();
        async move {
            matches!(
                d.get(&id, &nuage_docs::GetOptions::default()).await,
                Err(nuage_docs::DocError::NotFound { .. })
            )
        }
    };
    assert!(gone(a).await && gone(e).await, "the deletions were written");
    assert!(!gone(b).await, "the refused deletion was not");
    assert!(gone("new").await, "the refused document was not written");
    consistent(store, &inst, "a batch at the quota").await;
}

/// A batch longer than one transaction (500 writes) whose last document
/// does not fit: the 500 before it are written and answered, the last gets
/// its own error, not the whole request a 413.
async fn the_last_document_of_a_long_batch_is_refused_alone(db: &TestDb) {
    let c = cloud(db).await;
    let store = c.docs.store();
    let inst = small_instance(store, 200_000).await;
    let d = c.docs.db(&inst, &c.owner, NOTES).unwrap();
    let n = nuage_store::WRITES_PER_TRANSACTION;
    let mut batch: Vec<_> = (0..n).map(|i| json!({"_id": format!("s{i:04}")})).collect();
    batch.push(json!({"_id": "big", "pad": "z".repeat(300_000)}));
    let written = d.bulk_docs(batch, true).await.unwrap();
    assert_eq!(written.len(), n + 1);
    assert!(
        written[..n].iter().all(Result::is_ok),
        "{:?}",
        &written[..3]
    );
    assert!(
        matches!(&written[n], Err((id, nuage_docs::DocError::QuotaExceeded { .. })) if id == "big"),
        "{:?}",
        written[n]
    );
    let info = store.doctype_info(&inst, NOTES).await.unwrap().unwrap();
    assert_eq!(info.doc_count, n as i64);
    consistent(store, &inst, "a long batch at the quota").await;
}

nuage_store::on_both_engines!(
    a_batch_at_the_quota_refuses_only_what_does_not_fit,
    the_last_document_of_a_long_batch_is_refused_alone,
    a_replicated_history_counts_against_the_quota,
    every_row_is_counted_once_and_freed_once,
    a_deletion_passes_at_a_full_quota
);
