//! The background index builder: indexes registered on a doctype that
//! already has documents are filled here, a step of at most
//! [`BUILD_STEP_DOCS`] documents at a time, round-robin across doctypes, so
//! a tenant indexing a million documents holds the writers' lock for one
//! short step at a time and never for the whole build.
//!
//! Lifecycle: [`IndexBuilder::start`] spawns the one task, woken by writes
//! that register an index (and every minute, for indexes registered by
//! another process sharing PostgreSQL); [`IndexBuilder::shutdown`] stops it
//! between steps. A step is one transaction, so a stop or a crash leaves a
//! consistent cursor to resume from.

use super::indexes::BUILD_STEP_DOCS;
use crate::Store;
use std::time::Duration;

/// How often pending builds are looked for without a wake-up.
const POLL: Duration = Duration::from_secs(60);

pub struct IndexBuilder {
    task: crate::Task,
}

impl IndexBuilder {
    pub fn start(store: Store) -> IndexBuilder {
        IndexBuilder {
            task: crate::Task::spawn("index_builder", |stopping| run(store, stopping)),
        }
    }

    /// Stops after the step in progress.
    pub async fn shutdown(self) {
        self.task.shutdown().await;
    }
}

async fn run(store: Store, mut stopped: crate::Stopping) {
    let wake = store.index_wake.clone();
    loop {
        if *stopped.borrow() {
            return;
        }
        let pending = match store.pending_index_builds(32).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "could not look for index builds; retrying in 5 s");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                    _ = stopped.changed() => return,
                }
                continue;
            }
        };
        if pending.is_empty() {
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(POLL) => {}
                _ = stopped.changed() => return,
            }
            continue;
        }
        for (inst, doctype) in pending {
            if *stopped.borrow() {
                return;
            }
            metrics::counter!("nuage_index_build_steps_total").increment(1);
            if let Err(e) = store.build_step(&inst, &doctype, BUILD_STEP_DOCS).await {
                tracing::warn!(instance = %inst, doctype, error = %e, "an index build step failed; it will be retried");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stopped.changed() => return,
                }
            }
            tokio::task::yield_now().await;
        }
    }
}
