//! Deleting a doctype in steps, on both engines: refused to writers and
//! missing to lookups after the first, purged a bounded chunk at a time
//! from every table that names a doctype, resumed by a fresh store after an
//! interruption, its name free again once done, and its neighbours (other
//! doctypes, the same doctype of another instance) untouched. (Through the
//! document service and the remover task: nuage-docs'
//! tests/doctype_removal.rs.)

use nuage_store::testing::{TestDb, new_doc, tables_counted};
use nuage_store::*;
use serde_json::json;

const T: &str = "com.example.notes";
const OTHER: &str = "com.example.films";

/// `n` documents of `doctype` in `inst`, a design document whose index
/// covers each (built), and a `_local` document.
async fn fill(store: &Store, inst: &InstanceId, doctype: &str, n: usize) {
    store.test_indexed_docs(inst, doctype, n).await;
    store.test_checkpoint(inst, doctype).await;
    assert_eq!(store.index_entries_of(inst, doctype).await.len(), n);
}

/// Doctype deletions begun and not finished.
async fn pending(store: &Store) -> usize {
    store.pending_doctype_removals(100).await.unwrap().len()
}

fn assert_nothing_left(rows: &[(String, i64)]) {
    for (table, n) in rows {
        assert_eq!(*n, 0, "{table} still holds {n} rows of a deleted doctype");
    }
}

fn count(rows: &[(String, i64)], table: &str) -> i64 {
    rows.iter()
        .find(|(t, _)| *t == table)
        .map(|(_, n)| *n)
        .unwrap_or_else(|| panic!("{table} is not counted"))
}

async fn every_table_with_a_doctype_is_purged(db: &TestDb) {
    let store = db.open().await;
    let inst = store.test_instance("a.test").await;
    assert_eq!(
        tables_counted(store.rows_of_doctype(&inst, T).await, &[]),
        store.tables_with_doctype().await,
        "a doctype's deletion purges, and its tests count, every table with a doctype"
    );
}

async fn a_deleted_doctype_is_purged_in_bounded_chunks_and_its_name_is_free_again(db: &TestDb) {
    let store = db.open().await;
    let inst = store.test_instance("a.test").await;
    let neighbour = store.test_instance("b.test").await;
    fill(&store, &inst, T, 2500).await;
    fill(&store, &inst, OTHER, 20).await;
    fill(&store, &neighbour, T, 30).await;
    let other_before = store.rows_of_doctype(&inst, OTHER).await;
    let neighbour_before = store.rows_of_instance(&neighbour).await;
    let rows = store.rows_of_doctype(&inst, T).await;
    assert_eq!(count(&rows, "docs"), 2501);
    assert_eq!(count(&rows, "local_docs"), 1);
    assert_eq!(count(&rows, "index_entries"), 2500);

    assert!(store.retire_doctype(&inst, T).await.unwrap());
    assert!(
        !store.retire_doctype(&inst, T).await.unwrap(),
        "a deletion begins once"
    );
    assert_eq!(
        store.pending_doctype_removals(100).await.unwrap(),
        vec![(inst.clone(), T.to_owned())]
    );
    // Missing to lookups at once, before any document goes.
    assert!(store.doctype_info(&inst, T).await.unwrap().is_none());
    assert_eq!(store.list_doctypes(&inst).await.unwrap(), vec![OTHER]);
    assert_eq!(store.usage(&inst).await.unwrap().by_doctype.len(), 1);
    assert_eq!(count(&store.rows_of_doctype(&inst, T).await, "docs"), 2501);

    let mut steps = 0;
    loop {
        let n = store.purge_doctype_step(&inst, T).await.unwrap();
        assert!(n <= PURGE_CHUNK_ROWS as u64, "a chunk of {n} rows");
        if n == 0 {
            break;
        }
        steps += 1;
    }
    // 2501 docs, 2501 revisions, 2500 entries, one of each of the rest.
    assert!(
        steps >= 7503_u64.div_ceil(PURGE_CHUNK_ROWS as u64),
        "{steps}"
    );
    assert_nothing_left(&store.rows_of_doctype(&inst, T).await);
    assert_eq!(pending(&store).await, 0);
    assert_eq!(store.purge_doctype_step(&inst, T).await.unwrap(), 0);

    assert_eq!(store.rows_of_doctype(&inst, OTHER).await, other_before);
    assert_eq!(store.index_entries_of(&inst, OTHER).await.len(), 20);
    assert_eq!(
        store.rows_of_instance(&neighbour).await,
        neighbour_before,
        "the same doctype of another instance is untouched"
    );

    // The name is free: created again, empty, and written to.
    assert!(store.ensure_doctype(&inst, T).await.unwrap());
    let info = store.doctype_info(&inst, T).await.unwrap().unwrap();
    assert_eq!((info.update_seq, info.doc_count), (0, 0));
    assert!(store.doc_head(&inst, T, "d00001").await.unwrap().is_none());
    store
        .write_docs(&inst, T, vec![new_doc("again", json!({}))])
        .await
        .unwrap();
    assert_eq!(
        store
            .doctype_info(&inst, T)
            .await
            .unwrap()
            .unwrap()
            .doc_count,
        1
    );
}

async fn writes_to_a_doctype_being_deleted_are_refused(db: &TestDb) {
    let store = db.open().await;
    let inst = store.test_instance("a.test").await;
    let neighbour = store.test_instance("b.test").await;
    fill(&store, &inst, T, 10).await;
    assert!(store.retire_doctype(&inst, T).await.unwrap());

    refused(
        store
            .write_docs(&inst, T, vec![new_doc("late", json!({}))])
            .await,
    );
    let late = LocalKey {
        doctype: T,
        creator: "",
        id: "late",
    };
    refused(store.put_local_doc(&inst, &late, None, "{}", 100).await);
    refused(store.ensure_doctype(&inst, T).await);
    assert_eq!(
        store.build_step(&inst, T, 1000).await.unwrap(),
        0,
        "no index is built meanwhile"
    );
    assert!(store.doc_head(&inst, T, "late").await.unwrap().is_none());

    // Only that doctype of that instance.
    store
        .write_docs(&inst, OTHER, vec![new_doc("fine", json!({}))])
        .await
        .unwrap();
    store
        .write_docs(&neighbour, T, vec![new_doc("fine", json!({}))])
        .await
        .unwrap();
}

fn refused<W>(r: Result<W, StoreError>) {
    match r {
        Err(StoreError::DoctypeBeingRemoved { doctype }) => assert_eq!(doctype, T),
        Err(e) => panic!("refused for another reason: {e}"),
        Ok(_) => panic!("a write to a doctype being deleted passed"),
    }
}

async fn a_deletion_interrupted_midway_is_finished_by_a_fresh_store(db: &TestDb) {
    let inst;
    {
        let store = db.open().await;
        inst = store.test_instance("a.test").await;
        fill(&store, &inst, T, 700).await;
        assert!(store.retire_doctype(&inst, T).await.unwrap());
        assert!(store.purge_doctype_step(&inst, T).await.unwrap() > 0);
        store.close().await;
    }
    let store = db.open().await;
    let pending = store.pending_doctype_removals(100).await.unwrap();
    assert_eq!(pending, vec![(inst.clone(), T.to_owned())]);
    refused(
        store
            .write_docs(&inst, T, vec![new_doc("late", json!({}))])
            .await,
    );
    while store.purge_doctype_step(&inst, T).await.unwrap() > 0 {}
    assert_nothing_left(&store.rows_of_doctype(&inst, T).await);
}

async fn the_purge_steps_never_touch_a_live_doctype(db: &TestDb) {
    let store = db.open().await;
    let inst = store.test_instance("a.test").await;
    fill(&store, &inst, T, 10).await;
    let before = store.rows_of_doctype(&inst, T).await;
    assert_eq!(store.purge_doctype_step(&inst, T).await.unwrap(), 0);
    assert_eq!(store.rows_of_doctype(&inst, T).await, before);
    assert!(
        !store
            .retire_doctype(&inst, "com.example.never")
            .await
            .unwrap()
    );
}

async fn an_instance_removed_while_its_doctype_is_deleted_leaves_nothing(db: &TestDb) {
    let store = db.open().await;
    let inst = store.test_instance("a.test").await;
    fill(&store, &inst, T, 600).await;
    assert!(store.retire_doctype(&inst, T).await.unwrap());
    assert!(store.purge_doctype_step(&inst, T).await.unwrap() > 0);
    assert!(store.remove_instance_rows(&inst).await);
    assert_eq!(pending(&store).await, 0);
    assert_eq!(store.purge_doctype_step(&inst, T).await.unwrap(), 0);
    assert_nothing_left(&store.rows_of_instance(&inst).await);
}

nuage_store::on_both_engines!(
    every_table_with_a_doctype_is_purged,
    a_deleted_doctype_is_purged_in_bounded_chunks_and_its_name_is_free_again,
    writes_to_a_doctype_being_deleted_are_refused,
    a_deletion_interrupted_midway_is_finished_by_a_fresh_store,
    the_purge_steps_never_touch_a_live_doctype,
    an_instance_removed_while_its_doctype_is_deleted_leaves_nothing,
);
