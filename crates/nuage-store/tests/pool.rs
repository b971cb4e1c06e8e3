//! The connection pool (`src/pool.rs`) when its users give up halfway: a
//! request cancelled in the middle of a statement, a transaction dropped
//! without commit. Connections go back to the pool without a round trip
//! when their last use finished; these are the uses that did not.

use nuage_store::testing::{TestDb, new_doc};
use nuage_store::*;
use std::future::Future;
use std::time::Duration;

/// A statement cancelled midway (a client that hung up) leaves a
/// connection that answers the next statements with their own results.
async fn a_statement_cancelled_midway_leaves_usable_connections(db: &TestDb) {
    let store = db.open().await;
    store.test_instance("a.test").await;
    for _ in 0..3 {
        let cancelled =
            tokio::time::timeout(Duration::from_millis(100), store.test_slow_statement()).await;
        assert!(cancelled.is_err(), "the slow statement was not slow");
        // More calls than the pool has connections: each must get its own
        // answer, not what the cancelled statement left to read.
        for _ in 0..12 {
            assert_eq!(store.count_instances().await.unwrap(), 1);
        }
    }
}

/// A transaction dropped without commit (a handler that returned early)
/// is rolled back before its connection serves anyone else: its change is
/// gone and its lock does not hold up the next write.
async fn a_dropped_transaction_is_rolled_back_before_the_next_write(db: &TestDb) {
    let store = db.open().await;
    let inst = store.test_instance("a.test").await;
    let dt = "io.nuage.pool";
    store
        .write_docs(&inst, dt, vec![new_doc("one", serde_json::json!({}))])
        .await
        .unwrap();
    for i in 0..3 {
        store.test_abandoned_write(&inst, dt).await;
        let written = tokio::time::timeout(
            Duration::from_secs(5),
            store.write_docs(
                &inst,
                dt,
                vec![new_doc(&format!("d{i}"), serde_json::json!({}))],
            ),
        )
        .await
        .expect("the next write waited on the dropped transaction")
        .unwrap();
        assert!(matches!(written[0], WriteOutcome::Written(_)));
        let info = store.doctype_info(&inst, dt).await.unwrap().unwrap();
        assert_eq!(
            info.update_seq,
            i + 2,
            "the dropped transaction's change stayed"
        );
    }
}

/// A transaction whose caller gave up while its `BEGIN` was on the way
/// (dropped after its first polls) leaves no transaction open on the
/// connection: later statements on it commit, seen from other connections.
async fn a_transaction_cancelled_while_it_begins_leaves_nothing_open(db: &TestDb) {
    let store = db.open().await;
    let inst = store.test_instance("a.test").await;
    let dt = "io.nuage.pool";
    let mut cancelled = 0;
    for i in 0..10 {
        // Polled once (its `BEGIN` goes out), or a few times with the
        // runtime running in between, then dropped; done if it never had
        // to wait.
        let mut write = Box::pin(store.test_abandoned_write(&inst, dt));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let mut done = false;
        for _ in 0..=i % 3 {
            if write.as_mut().poll(&mut cx).is_ready() {
                done = true;
                break;
            }
            tokio::task::yield_now().await;
        }
        drop(write);
        cancelled += usize::from(!done);
        store
            .write_docs(
                &inst,
                dt,
                vec![new_doc(&format!("d{i}"), serde_json::json!({}))],
            )
            .await
            .unwrap();
        store
            .create_instance(NewInstance {
                domain: format!("x{i}.test"),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    assert!(cancelled > 0, "no transaction was cancelled");
    let other = db.open().await;
    assert_eq!(other.count_instances().await.unwrap(), 11);
    let info = other.doctype_info(&inst, dt).await.unwrap().unwrap();
    assert_eq!((info.update_seq, info.doc_count), (10, 10));
}

nuage_store::on_both_engines!(
    a_transaction_cancelled_while_it_begins_leaves_nothing_open,
    a_statement_cancelled_midway_leaves_usable_connections,
    a_dropped_transaction_is_rolled_back_before_the_next_write,
);
