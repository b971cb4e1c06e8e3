//! Removing an instance: one way to do it, used by the command line and the
//! admin API alike. [`Docs::remove_instance`] makes the instance gone to
//! the world in one short transaction: no lookup by domain or id finds it,
//! none of its credentials works, and its domain may be created again at
//! once, as a new instance that sees nothing of the old. Its documents,
//! index entries and blobs are then purged a chunk at a time, by
//! [`Removal::finish`] for a caller that waits (the command line, showing
//! progress), else by the [`Remover`] task that `nuage serve` runs, which
//! also finishes, at start and every minute, any removal a crash or another
//! process left unfinished.
//!
//! Must stay true: no step holds the writer for more than one chunk of
//! [`PURGE_CHUNK_ROWS`] rows, so removing a big instance costs the other
//! tenants nothing; the blobs go after every row, so no document left names
//! a missing blob; the removal record goes last, so a crash anywhere is
//! resumed (nuage-store `removals.rs` has the steps). A blob stored by a
//! request that was already past its checks when the removal began, and
//! stored after the blobs were deleted, is not seen: its document can no
//! longer commit.

use crate::Docs;
use nuage_blob::BlobError;
use nuage_core::InstanceId;
use nuage_store::{PendingRemoval, Stopping, StoreError, Task, sleep_or_stop};
use std::time::Duration;

pub use nuage_store::PURGE_CHUNK_ROWS;

/// How often the remover looks for removals recorded by other processes,
/// or left by a crash, without being woken.
const POLL: Duration = Duration::from_secs(60);

/// Why finishing a removal failed. The instance is gone to the world
/// whatever happens here: what is left is resumed by the [`Remover`].
#[derive(Debug, thiserror::Error)]
pub enum RemovalError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Blob(#[from] BlobError),
}

/// How far a removal has gone, for a progress display.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemovalProgress {
    /// Document rows purged so far, of `total` counted when the purge began
    /// (`done` may pass it if writes in flight added some).
    Rows { done: u64, total: u64 },
    /// Every row is gone; the blobs are being deleted.
    Blobs,
    /// Nothing of the instance is left.
    Done,
}

/// A removal begun: the instance is gone to the world, its data not yet.
/// Dropping it leaves the purge to the [`Remover`].
#[derive(Clone)]
pub struct Removal {
    docs: Docs,
    pending: PendingRemoval,
}

impl Docs {
    /// Removes an instance: returns once it is gone to every request and
    /// credential (in this process; others within their caches' few
    /// seconds), after one short transaction. `None` if no instance has
    /// this id (or its removal had begun already). The purge that follows
    /// is [`Removal::finish`], or the [`Remover`]'s, which is woken.
    pub async fn remove_instance(&self, inst: &InstanceId) -> Result<Option<Removal>, StoreError> {
        Ok(self
            .store
            .retire_instance(inst)
            .await?
            .map(|pending| Removal {
                docs: self.clone(),
                pending,
            }))
    }
}

impl Removal {
    /// The instance being removed, and the domain it had.
    pub fn pending(&self) -> &PendingRemoval {
        &self.pending
    }

    /// Purges everything the instance still has, here, reporting progress;
    /// returns when nothing of it is left.
    pub async fn finish(
        self,
        mut progress: impl FnMut(RemovalProgress) + Send,
    ) -> Result<(), RemovalError> {
        let inst = &self.pending.instance;
        let total = self.docs.store.removal_rows_left(inst).await?;
        let finished = purge(&self.docs, inst, Some(total), &mut progress, None).await?;
        debug_assert!(finished, "nothing stops a purge without a stop signal");
        Ok(())
    }
}

/// Runs the steps of a removal to its end; false if `stopping` turned true
/// first (the rest is resumed later).
async fn purge(
    docs: &Docs,
    inst: &InstanceId,
    total: Option<u64>,
    progress: &mut (dyn FnMut(RemovalProgress) + Send),
    stopping: Option<&Stopping>,
) -> Result<bool, RemovalError> {
    let total = total.unwrap_or(0);
    let mut done = 0;
    progress(RemovalProgress::Rows { done, total });
    loop {
        if stopping.is_some_and(|s| *s.borrow()) {
            return Ok(false);
        }
        let n = docs.store.purge_removal_step(inst).await?;
        if n == 0 {
            break;
        }
        done += n;
        progress(RemovalProgress::Rows { done, total });
        // Let other tasks of this runtime (and their writes) run between
        // chunks; the writers' lock is handed over in turn.
        tokio::task::yield_now().await;
    }
    progress(RemovalProgress::Blobs);
    docs.blobs.delete_instance(inst).await?;
    docs.store.end_removal(inst).await?;
    progress(RemovalProgress::Done);
    Ok(true)
}

/// The background task that finishes removals: those begun in this process
/// and left to it (the admin API answers before the purge), those a crash
/// interrupted, and those another process began and did not finish; and
/// likewise deletions of doctypes (doctype_removal.rs) whose request did
/// not see them to the end.
pub struct Remover {
    task: Task,
}

impl Remover {
    pub fn start(docs: Docs) -> Remover {
        Remover {
            task: Task::spawn("instance_remover", |stopping| run(docs, stopping)),
        }
    }

    /// What the task does each time it wakes, here and once: finishes every
    /// instance removal and doctype deletion pending now (for tests and
    /// tools that cannot wait for the task).
    pub async fn run_once(docs: &Docs) -> Result<(), RemovalError> {
        let (_never, stopping) = tokio::sync::watch::channel(false);
        pass(docs, &stopping).await.map(|_| ())
    }

    /// Stops after the chunk in progress; the rest is resumed at next start.
    pub async fn shutdown(self) {
        self.task.shutdown().await;
    }
}

async fn run(docs: Docs, mut stopping: Stopping) {
    loop {
        if *stopping.borrow() {
            return;
        }
        match pass(&docs, &stopping).await {
            Ok(Pass::Worked) => {}
            Ok(Pass::Stopped) => return,
            Ok(Pass::Idle) => {
                tokio::select! {
                    _ = docs.store.removal_requested() => {}
                    _ = tokio::time::sleep(POLL) => {}
                    _ = stopping.changed() => return,
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "finishing removals failed; retrying in 5 s");
                if sleep_or_stop(&mut stopping, Duration::from_secs(5)).await {
                    return;
                }
            }
        }
    }
}

/// What one look at the pending removals did.
enum Pass {
    /// Nothing was pending.
    Idle,
    /// Everything pending then was finished.
    Worked,
    /// The stop signal came first.
    Stopped,
}

/// Finishes every instance removal, then every doctype deletion (whose
/// request went away, or the process under it: doctype_removal.rs),
/// pending when it looks.
async fn pass(docs: &Docs, stopping: &Stopping) -> Result<Pass, RemovalError> {
    let removals = docs.store.pending_removals().await?;
    let doctypes = docs.store.pending_doctype_removals(100).await?;
    if removals.is_empty() && doctypes.is_empty() {
        return Ok(Pass::Idle);
    }
    for removal in removals {
        let inst = &removal.instance;
        let finished = purge(docs, inst, None, &mut |_| {}, Some(stopping))
            .await
            .inspect_err(|e| {
                tracing::warn!(instance = %inst, domain = removal.domain, error = %e,
                    "purging a removed instance failed; it will be retried");
            })?;
        if !finished {
            return Ok(Pass::Stopped);
        }
        tracing::info!(instance = %inst, domain = removal.domain, "instance purged");
    }
    for (inst, doctype) in doctypes {
        let finished = docs
            .purge_doctype(&inst, &doctype, Some(stopping))
            .await
            .inspect_err(|e| {
                tracing::warn!(instance = %inst, doctype, error = %e,
                    "purging a deleted doctype failed; it will be retried");
            })?;
        if !finished {
            return Ok(Pass::Stopped);
        }
        tracing::info!(instance = %inst, doctype, "deleted doctype purged");
    }
    Ok(Pass::Worked)
}
