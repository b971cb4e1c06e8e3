//! Blobs no revision references any more are collected, so an instance's
//! disk holds what its quota counts: replaced attachments, attachments of
//! deleted documents and of deleted doctypes go, the ones kept stay, and a
//! blob stored within the grace stays until the grace has passed. On both
//! engines.

use nuage_blob::Blobs;
use nuage_core::revs::Rev;
use nuage_core::{Access, InstanceId, Subject};
use nuage_docs::{BLOB_GRACE, Docs};
use nuage_store::NewInstance;
use nuage_store::testing::TestDb;
use serde_json::json;
use std::time::{Duration, SystemTime};

const PHOTOS: &str = "com.example.photos";
const NOTES: &str = "com.example.notes";
const QUOTA: i64 = 200_000;

fn owner() -> Access {
    Access::owner(Subject::CliToken)
}

fn content(i: usize, len: usize) -> Vec<u8> {
    format!("{i:08}").bytes().cycle().take(len).collect()
}

/// An instance with a quota of [`QUOTA`].
async fn small_instance(store: &nuage_store::Store) -> InstanceId {
    store
        .create_instance(NewInstance {
            domain: "small.test".into(),
            quota_bytes: Some(QUOTA),
            ..Default::default()
        })
        .await
        .unwrap()
        .id
}

/// A small instance's documents and blobs (in a folder kept while the
/// first value lives).
async fn photo_store(
    db: &TestDb,
) -> (
    tempfile::TempDir,
    nuage_store::Store,
    Blobs,
    Docs,
    InstanceId,
) {
    let dir = tempfile::tempdir().unwrap();
    let store = db.open().await;
    let blobs = Blobs::new(dir.path());
    let docs = Docs::new(store.clone(), blobs.clone());
    let inst = small_instance(&store).await;
    (dir, store, blobs, docs, inst)
}

async fn replaced_and_deleted_attachments_are_collected(db: &TestDb) {
    let (_dir, store, blobs, docs, inst) = photo_store(db).await;
    let access = owner();
    let photos = docs.db(&inst, &access, PHOTOS).unwrap();
    // One photo replaced 20 times (each fits the quota alone, all of them
    // would not), one kept, one deleted, and a doctype deleted.
    let mut rev: Option<Rev> = None;
    for i in 0..20 {
        let (_, r) = photos
            .put_attachment(
                "cat",
                "cat.jpg",
                rev.take(),
                "image/jpeg",
                content(i, 50_000),
            )
            .await
            .unwrap();
        rev = Some(r);
    }
    photos
        .put_attachment("dog", "dog.jpg", None, "image/jpeg", content(100, 10_000))
        .await
        .unwrap();
    let (_, gone) = photos
        .put_attachment("gone", "x.jpg", None, "image/jpeg", content(101, 10_000))
        .await
        .unwrap();
    photos
        .put("gone", json!({"_deleted": true}), Some(gone), true)
        .await
        .unwrap();
    let notes = docs.db(&inst, &access, NOTES).unwrap();
    notes
        .put_attachment("n", "n.txt", None, "text/plain", content(102, 10_000))
        .await
        .unwrap();
    notes.delete().await.unwrap();
    assert_eq!(blobs.count(&inst).await.unwrap(), 23);

    // Within the grace nothing goes: a write may be about to reference it.
    let now = SystemTime::now();
    let early = docs.collect_blobs(&inst, now).await.unwrap();
    assert_eq!((early.deleted, early.young), (0, true));
    assert_eq!(docs.collect_noted_blobs(now).await.unwrap(), 0);
    assert_eq!(
        store.blob_sweeps_due(10).await.unwrap().len(),
        1,
        "the note stays"
    );

    // After it, every blob no revision references goes: the last cat and
    // the dog are left.
    let later = now + BLOB_GRACE + Duration::from_secs(1);
    assert_eq!(docs.collect_noted_blobs(later).await.unwrap(), 21);
    assert_eq!(blobs.count(&inst).await.unwrap(), 2);
    assert_eq!(store.referenced_blobs(&inst).await.unwrap().len(), 2);
    assert!(store.blob_sweeps_due(10).await.unwrap().is_empty(), "swept");
    let cat = photos.get_attachment("cat", "cat.jpg", None).await.unwrap();
    assert_eq!(cat.data, content(19, 50_000));

    // What the instance keeps (60 kB) leaves room for 100 kB more, not 150.
    let refused = photos
        .put_attachment("big", "b.jpg", None, "image/jpeg", content(200, 150_000))
        .await;
    assert!(
        matches!(refused, Err(nuage_docs::DocError::QuotaExceeded { .. })),
        "{:?}",
        refused.err()
    );
    photos
        .put_attachment("big", "b.jpg", None, "image/jpeg", content(200, 100_000))
        .await
        .unwrap();
    // The refused content was never stored.
    assert_eq!(blobs.count(&inst).await.unwrap(), 3);
}

/// A write that is refused, or that brings a revision already held, must
/// not leave its attachments on disk: nothing references them and the
/// quota does not count them, so a client sending them again and again
/// (with new content each time) would fill the disk past its quota for as
/// long as the collector waits — or for ever, when no sweep was noted.
async fn writes_that_change_nothing_store_no_blob(db: &TestDb) {
    use base64::Engine as _;
    let b64 = |v: &[u8]| base64::engine::general_purpose::STANDARD.encode(v);
    let dir = tempfile::tempdir().unwrap();
    let store = db.open().await;
    let blobs = Blobs::new(dir.path());
    let mut docs = Docs::new(store.clone(), blobs.clone());
    docs.max_doc_bytes = 100_000;
    let inst = small_instance(&store).await;
    let access = owner();
    let photos = docs.db(&inst, &access, PHOTOS).unwrap();
    let (_, cat) = photos
        .put_attachment("cat", "cat.jpg", None, "image/jpeg", content(1, 10_000))
        .await
        .unwrap();
    assert_eq!(blobs.count(&inst).await.unwrap(), 1);

    // An attachment put on an existing document without its revision.
    for i in 10..15 {
        let r = photos
            .put_attachment("cat", "more.jpg", None, "image/jpeg", content(i, 10_000))
            .await;
        assert!(
            matches!(r, Err(nuage_docs::DocError::Conflict)),
            "{:?}",
            r.err()
        );
    }
    // An attachment of a document whose id no document may have (as
    // `PUT /data/{doctype}/_local/x/y.jpg` asks).
    for (i, id) in ["_local", "_bad", "a\u{0}"].into_iter().enumerate() {
        let r = photos
            .put_attachment(id, "y.jpg", None, "image/jpeg", content(50 + i, 10_000))
            .await;
        assert!(
            matches!(r, Err(nuage_docs::DocError::IllegalDocId(_))),
            "{:?}",
            r.err()
        );
    }
    // An inline attachment on an edit of a revision that is not a leaf.
    let (_, cat2) = photos
        .put("cat", json!({"k": 1}), Some(cat.clone()), true)
        .await
        .unwrap();
    for i in 20..25 {
        let r = photos
            .put(
                "cat",
                json!({"_attachments": {"x": {"data": b64(&content(i, 10_000))}}}),
                Some(cat.clone()),
                true,
            )
            .await;
        assert!(
            matches!(r, Err(nuage_docs::DocError::Conflict)),
            "{:?}",
            r.err()
        );
    }
    // A document over the size limit, with an attachment.
    let r = photos
        .put(
            "fat",
            json!({"pad": "x".repeat(200_000),
                   "_attachments": {"x": {"data": b64(&content(30, 10_000))}}}),
            None,
            true,
        )
        .await;
    assert!(r.is_err());
    // A replicated revision already held, sent again with other content.
    for i in 40..45 {
        let out = photos
            .bulk_docs(
                vec![json!({"_id": "r", "_rev": "1-abc",
                  "_attachments": {"x": {"content_type": "text/plain",
                                         "data": b64(&content(i, 10_000))}}})],
                false,
            )
            .await
            .unwrap();
        assert!(out[0].is_ok(), "{out:?}");
    }
    // Stored: the cat's photo (which the edit to `cat2` dropped, left to
    // the collector) and the replicated revision's first content.
    assert_eq!(
        blobs.count(&inst).await.unwrap(),
        2,
        "no blob for a write that changed nothing"
    );
    assert_eq!(store.referenced_blobs(&inst).await.unwrap().len(), 1);
    let r = photos.get_attachment("r", "x", None).await.unwrap();
    assert_eq!(r.data, content(40, 10_000));
    let _ = cat2;
}

/// A replicated revision whose attachment is a stub takes the blob a leaf
/// of the document holds. If that leaf is replaced while the write is on
/// its way, and the collector sweeps in between (the blob idle past the
/// grace, no revision referencing it any more), the write must not commit a
/// reference to a blob the sweep deleted: it is refused as a stub that
/// names nothing, as it would have been a moment later. Held while the
/// leaf stays, the same write commits and the sweep keeps the blob.
async fn a_stub_written_while_its_blob_is_collected_is_refused(db: &TestDb) {
    let (_dir, store, blobs, docs, inst) = photo_store(db).await;
    let access = owner();
    let photos = docs.db(&inst, &access, PHOTOS).unwrap();
    let (_, first) = photos
        .put_attachment("cat", "cat.jpg", None, "image/jpeg", content(1, 1_000))
        .await
        .unwrap();
    let nuage_docs::GetAnswer::Doc(doc) = photos
        .get("cat", &nuage_docs::GetOptions::default())
        .await
        .unwrap()
    else {
        panic!("a document")
    };
    let stub = doc["_attachments"]["cat.jpg"].clone();
    // A replicator's revision on a branch of its own, naming the photo by
    // a stub; prepared, then held before its transaction.
    let replicate = |rev: &str| {
        let (docs, inst, rev) = (docs.clone(), inst.clone(), rev.to_owned());
        let doc = json!({"_id": "cat", "_rev": rev, "_attachments": {"cat.jpg": stub.clone()}});
        tokio::spawn(async move {
            let access = owner();
            let photos = docs.db(&inst, &access, PHOTOS).unwrap();
            photos.bulk_docs(vec![doc], false).await
        })
    };
    let later = SystemTime::now() + BLOB_GRACE + Duration::from_secs(1);

    // An edit whose parent (the stub's leaf) was replaced meanwhile is
    // still the conflict clients retry on.
    let mut held = store.pause_next_write(PHOTOS);
    let edit = {
        let (docs, inst, first) = (docs.clone(), inst.clone(), first.clone());
        let doc = json!({"k": 1, "_attachments": {"cat.jpg": stub.clone()}});
        tokio::spawn(async move {
            let access = owner();
            let photos = docs.db(&inst, &access, PHOTOS).unwrap();
            photos.put("cat", doc, Some(first), true).await
        })
    };
    held.arrived().await;
    let (_, cat) = photos
        .put(
            "cat",
            json!({"k": 2, "_attachments": {"cat.jpg": stub.clone()}}),
            Some(first),
            true,
        )
        .await
        .unwrap();
    held.release();
    let edit = edit.await.unwrap();
    assert!(
        matches!(edit, Err(nuage_docs::DocError::Conflict)),
        "{edit:?}"
    );

    // The leaf stays: the sweep keeps its blob, the write commits.
    let mut held = store.pause_next_write(PHOTOS);
    let kept = replicate(&format!("1-{}", "a".repeat(32)));
    held.arrived().await;
    store.note_blob_sweep(&inst).await.unwrap();
    assert_eq!(docs.collect_noted_blobs(later).await.unwrap(), 0);
    held.release();
    let kept = kept.await.unwrap().unwrap();
    assert!(kept[0].is_ok(), "{kept:?}");

    // Both leaves replaced while the next one is held, then a sweep.
    let mut held = store.pause_next_write(PHOTOS);
    let late = replicate(&format!("1-{}", "b".repeat(32)));
    held.arrived().await;
    photos
        .delete_attachment("cat", "cat.jpg", Some(cat))
        .await
        .unwrap();
    let branch = Rev::parse(&format!("1-{}", "a".repeat(32)));
    photos
        .put("cat", json!({"_deleted": true}), branch, true)
        .await
        .unwrap();
    assert_eq!(
        docs.collect_noted_blobs(later).await.unwrap(),
        1,
        "idle, unreferenced"
    );
    held.release();
    let late = late.await.unwrap().unwrap();
    assert!(
        matches!(&late[..], [Err((_, nuage_docs::DocError::MissingStub(_)))]),
        "{late:?}"
    );
    // Whatever a revision references is there.
    for key in store.referenced_blobs(&inst).await.unwrap() {
        blobs.get(&inst, &key).await.unwrap();
    }
}

nuage_store::on_both_engines!(
    replaced_and_deleted_attachments_are_collected,
    writes_that_change_nothing_store_no_blob,
    a_stub_written_while_its_blob_is_collected_is_refused
);
