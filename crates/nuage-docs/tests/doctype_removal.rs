//! Deleting a doctype through the document service: nothing of it is left,
//! counted in every table that names a doctype, while its neighbours keep
//! all they had; writes meanwhile are refused with a typed error; a
//! deletion whose request went away after its first step is finished by
//! the remover. On both engines.

use nuage_blob::Blobs;
use nuage_core::{Access, InstanceId, Subject};
use nuage_docs::{DocError, Docs, Remover};
use nuage_store::Store;
use nuage_store::testing::TestDb;
use serde_json::json;

const NOTES: &str = "com.example.notes";
const FILMS: &str = "com.example.films";

fn owner() -> Access {
    Access::owner(Subject::CliToken)
}

/// `n` documents of `doctype`, an attachment, a Mango index built over
/// them and `_local` documents.
async fn fill(docs: &Docs, inst: &InstanceId, doctype: &str, n: usize) {
    let access = owner();
    let db = docs.db(inst, &access, doctype).unwrap();
    let batch = (0..n)
        .map(|i| json!({"_id": format!("d{i:05}"), "n": i}))
        .collect();
    db.bulk_docs(batch, true).await.unwrap();
    db.create_index(json!({"index": {"fields": ["n"]}, "name": "by-n"}))
        .await
        .unwrap();
    while docs.store().build_step(inst, doctype, 5000).await.unwrap() > 0 {}
    db.put_attachment("with-file", "file.txt", None, "text/plain", b"x".to_vec())
        .await
        .unwrap();
    for id in ["checkpoint", "other"] {
        db.put_local(id, json!({"seq": 1}), None).await.unwrap();
    }
}

async fn service(db: &TestDb, blobs: &tempfile::TempDir) -> (Store, Docs) {
    let store = db.open().await;
    let docs = Docs::new(store.clone(), Blobs::new(blobs.path()));
    (store, docs)
}

fn assert_nothing_left(rows: &[(String, i64)]) {
    for (table, n) in rows {
        assert_eq!(*n, 0, "{table}: {n} rows left of a deleted doctype");
    }
}

fn assert_holds_everything(rows: &[(String, i64)]) {
    for (table, n) in rows {
        assert!(*n > 0, "the test doctype holds {table}: {rows:?}");
    }
}

async fn deleting_a_doctype_leaves_nothing_of_it_and_touches_no_neighbour(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let (store, docs) = service(db, &dir).await;
    let inst = store.test_instance("a.test").await;
    let neighbour = store.test_instance("b.test").await;
    fill(&docs, &inst, NOTES, 3000).await;
    fill(&docs, &inst, FILMS, 30).await;
    fill(&docs, &neighbour, NOTES, 30).await;
    assert_holds_everything(&store.rows_of_doctype(&inst, NOTES).await);
    let films_before = store.rows_of_doctype(&inst, FILMS).await;
    let neighbour_before = store.rows_of_instance(&neighbour).await;

    let access = owner();
    let notes = docs.db(&inst, &access, NOTES).unwrap();
    notes.delete().await.unwrap();

    assert_nothing_left(&store.rows_of_doctype(&inst, NOTES).await);
    assert!(store.pending_doctype_removals(10).await.unwrap().is_empty());
    assert_eq!(store.rows_of_doctype(&inst, FILMS).await, films_before);
    assert_eq!(store.rows_of_instance(&neighbour).await, neighbour_before);
    assert_eq!(
        notes.delete().await.unwrap_err(),
        DocError::not_found("Database does not exist.")
    );

    // The name may be created again, and is empty.
    notes.create().await.unwrap();
    let info = notes.info().await.unwrap();
    assert_eq!(
        (info["doc_count"].as_i64(), info["update_seq"].as_i64()),
        (Some(0), Some(0))
    );
    assert!(matches!(
        notes.get("d00001", &Default::default()).await,
        Err(DocError::NotFound { .. })
    ));
    notes.put("again", json!({}), None, true).await.unwrap();
    assert_eq!(notes.info().await.unwrap()["doc_count"], 1);
}

fn being_deleted<T: std::fmt::Debug>(r: Result<T, DocError>) {
    match r {
        Err(DocError::DoctypeBeingDeleted { doctype }) => assert_eq!(doctype, NOTES),
        other => panic!("not refused as being deleted: {other:?}"),
    }
}

async fn a_write_during_the_deletion_is_refused_with_a_typed_error(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let (store, docs) = service(db, &dir).await;
    let inst = store.test_instance("a.test").await;
    fill(&docs, &inst, NOTES, 20).await;
    fill(&docs, &inst, FILMS, 2).await;
    let access = owner();
    let notes = docs.db(&inst, &access, NOTES).unwrap();
    // The deletion's first step only, as while a request purges.
    assert!(store.retire_doctype(&inst, NOTES).await.unwrap());

    being_deleted(notes.put("late", json!({}), None, true).await);
    being_deleted(notes.post(json!({"n": 1})).await);
    being_deleted(notes.bulk_docs(vec![json!({"_id": "late"})], true).await);
    being_deleted(notes.put_local("late", json!({}), None).await);
    being_deleted(notes.create().await);
    being_deleted(notes.set_revs_limit(10).await);
    let reason = DocError::DoctypeBeingDeleted {
        doctype: NOTES.into(),
    }
    .to_string();
    assert!(reason.contains("try again in a moment"), "{reason}");

    // It reads as missing; a second deletion finds nothing to delete.
    assert_eq!(notes.info().await.unwrap()["doc_count"], 0);
    assert_eq!(
        docs.all_doctypes(&inst, &access).await.unwrap(),
        vec![FILMS]
    );
    assert_eq!(
        notes.delete().await.unwrap_err(),
        DocError::not_found("Database does not exist.")
    );
    // Another doctype is written as ever.
    let films = docs.db(&inst, &access, FILMS).unwrap();
    films.put("fine", json!({}), None, true).await.unwrap();
}

async fn a_deletion_left_after_its_first_step_is_finished_by_the_remover(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let inst = {
        let (store, docs) = service(db, &dir).await;
        let inst = store.test_instance("a.test").await;
        fill(&docs, &inst, NOTES, 1200).await;
        fill(&docs, &inst, FILMS, 10).await;
        // The process dies right after the first step.
        assert!(store.retire_doctype(&inst, NOTES).await.unwrap());
        store.close().await;
        inst
    };
    let (store, docs) = service(db, &dir).await;
    let films_before = store.rows_of_doctype(&inst, FILMS).await;
    assert_eq!(store.pending_doctype_removals(10).await.unwrap().len(), 1);
    Remover::run_once(&docs).await.unwrap();
    assert!(store.pending_doctype_removals(10).await.unwrap().is_empty());
    assert_nothing_left(&store.rows_of_doctype(&inst, NOTES).await);
    assert_eq!(store.rows_of_doctype(&inst, FILMS).await, films_before);
    docs.db(&inst, &owner(), NOTES)
        .unwrap()
        .create()
        .await
        .unwrap();
}

nuage_store::on_both_engines!(
    deleting_a_doctype_leaves_nothing_of_it_and_touches_no_neighbour,
    a_write_during_the_deletion_is_refused_with_a_typed_error,
    a_deletion_left_after_its_first_step_is_finished_by_the_remover,
);
