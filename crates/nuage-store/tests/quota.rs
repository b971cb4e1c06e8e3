//! Quotas in the store, on both engines: a refused batch is the caller's
//! answer, and never its neighbours' (nor a server problem worth a WARN).

use nuage_store::testing::{TestDb, new_doc};
use nuage_store::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

const T: &str = "com.example.notes";

/// Counts events at WARN or above, on this thread (tests run on a
/// current-thread runtime, so the store's tasks log here too).
#[derive(Clone, Default)]
struct Warnings(Arc<AtomicU64>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Warnings {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if *event.metadata().level() <= tracing::Level::WARN {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

fn count_warnings() -> (Warnings, tracing::subscriber::DefaultGuard) {
    use tracing_subscriber::layer::SubscriberExt;
    let warnings = Warnings::default();
    let subscriber = tracing_subscriber::registry().with(warnings.clone());
    (warnings, tracing::subscriber::set_default(subscriber))
}

async fn yield_until(mut done: impl FnMut() -> bool) {
    for _ in 0..1_000_000 {
        if done() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("the store never got there");
}

async fn a_batch_over_quota_fails_alone_in_its_group(db: &TestDb) {
    let (warnings, _log) = count_warnings();
    let store = db.open().await;
    let inst = store
        .create_instance(NewInstance {
            domain: "small.test".into(),
            quota_bytes: Some(2_000),
            ..Default::default()
        })
        .await
        .unwrap()
        .id;
    let write = |id: &str, size: usize| {
        let (store, inst) = (store.clone(), inst.clone());
        let doc = new_doc(id, serde_json::json!({ "text": "x".repeat(size) }));
        tokio::spawn(async move { store.write_docs(&inst, T, vec![doc]).await })
    };
    // On SQLite: a first batch holds the writer while the two others queue
    // behind it, so that they are committed as one group.
    let held = store.hold_writes().await;
    let first = write("first", 10);
    if store.group_stats().is_some() {
        yield_until(|| store.group_stats().unwrap().received == 1).await;
    }
    let over = write("too-big", 5_000);
    let fits = write("fits", 100);
    if store.group_stats().is_some() {
        yield_until(|| store.group_stats().unwrap().queued == 2).await;
    }
    drop(held);

    assert!(matches!(
        first.await.unwrap().unwrap().as_slice(),
        [WriteOutcome::Written(_)]
    ));
    match over.await.unwrap().as_deref() {
        Ok([WriteOutcome::QuotaExceeded { needed, usage }]) => {
            assert!(*needed > 5_000, "{needed}");
            assert_eq!(usage.quota, Some(2_000));
        }
        other => panic!("expected a quota refusal, got {other:?}"),
    }
    assert!(matches!(
        fits.await.unwrap().unwrap().as_slice(),
        [WriteOutcome::Written(_)]
    ));
    if let Some(stats) = store.group_stats() {
        assert_eq!(
            (stats.groups, stats.retries),
            (1, 0),
            "the refused batch and the fitting one shared one group commit, with no retry"
        );
    }
    let info = store.doctype_info(&inst, T).await.unwrap().unwrap();
    assert_eq!((info.doc_count, info.update_seq), (2, 2));
    assert!(store.doc_head(&inst, T, "too-big").await.unwrap().is_none());
    assert_eq!(
        warnings.0.load(Ordering::SeqCst),
        0,
        "a refused write is the caller's answer, not a server problem"
    );
}

/// Migration 0010 gives the totals kept before it the share of the
/// revision rows they already hold (history included), and nothing to a
/// doctype being deleted.
async fn migration_0010_counts_the_rows_already_held(db: &TestDb) {
    let store = db.open().await;
    let inst = store.test_instance("a.test").await;
    let history = DocWrite::Replicate {
        id: "h".into(),
        path: (1..=30)
            .rev()
            .map(|p| nuage_core::revs::Rev::new(p, format!("{p:032x}")))
            .collect(),
        deleted: false,
        body: r#"{"n":1}"#.into(),
        stubs_from: Vec::new(),
    };
    store
        .write_docs(
            &inst,
            T,
            vec![history, new_doc("é", serde_json::json!({"a": 1}))],
        )
        .await
        .unwrap();
    store.test_checkpoint(&inst, T).await;
    store
        .write_docs(
            &inst,
            "com.example.gone",
            vec![new_doc("g", serde_json::json!({}))],
        )
        .await
        .unwrap();
    store
        .retire_doctype(&inst, "com.example.gone")
        .await
        .unwrap();
    let counted = store.recounted_bytes(&inst).await;
    assert_eq!(store.usage(&inst).await.unwrap().used, counted);

    store.undo_migration_0010().await;
    assert!(store.usage(&inst).await.unwrap().used < counted - 30 * 64);
    drop(store);
    let store = db.open().await;
    assert_eq!(store.usage(&inst).await.unwrap().used, counted);
}

nuage_store::on_both_engines!(
    a_batch_over_quota_fails_alone_in_its_group,
    migration_0010_counts_the_rows_already_held
);
