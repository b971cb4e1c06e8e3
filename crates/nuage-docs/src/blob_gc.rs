//! Collecting blobs that no revision references any more: attachments of
//! deleted or pruned revisions, replaced attachments, deleted doctypes. A
//! write that drops a body listing attachments notes its instance
//! (nuage-store `blob_sweeps.rs`); [`Docs::collect_blobs`] sweeps one
//! instance, and the [`BlobCollector`] task of `nuage serve` sweeps the
//! noted ones as they come (woken every [`SWEEP_EVERY`]).
//!
//! Must stay true: a blob is deleted only if no revision referenced it in a
//! snapshot read *after* the blob was found idle, and no write stored it
//! for [`BLOB_GRACE`] before its deletion. A write stores its blobs (a
//! `put`, which touches content already present) before its document
//! commits, and within a request: so a blob a write is about to reference
//! is either fresh (kept) or, if the write stores it after it was moved
//! aside, written again (nuage-blob's collecting paragraph). A write that
//! references a blob without storing it (an attachment stub, resolved
//! against a leaf of the document) commits only if that leaf is still a
//! leaf under the doctype's lock (nuage-store `DocWrite`, `stubs_from`):
//! no write can prune it until this one commits, so every sweep's snapshot
//! sees the blob referenced, by the leaf or by the new revision; a leaf
//! replaced before the write's transaction refuses it (`missing_stub`),
//! as a stub naming nothing is refused, whether or not a sweep has taken
//! the blob meanwhile. What is
//! unreferenced but younger than the grace stays until a later sweep: the
//! note stays too. The quota counts the bodies kept (their attachments'
//! lengths), so once swept the disk holds no more than the quota counts.
//!
//! Cost per tenant: nothing for an instance that drops no attachment; for
//! one that does, one row until it is swept, and a sweep that reads its
//! attachment-bearing revisions and lists its blob folder once.

use crate::Docs;
use nuage_core::InstanceId;
use nuage_store::{Stopping, Task, sleep_or_stop};
use std::time::{Duration, SystemTime};

/// How long a blob stored by a write is safe from collection whether or
/// not a document references it yet: far longer than any request takes
/// between storing its attachments and committing their document.
pub const BLOB_GRACE: Duration = Duration::from_secs(3600);

/// How often the collector looks for instances to sweep.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// What one sweep did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Collected {
    pub deleted: u64,
    /// Unreferenced blobs younger than the grace, left for a later sweep.
    pub young: bool,
}

/// Why a sweep failed; the note stays, and the sweep is tried again.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error(transparent)]
    Store(#[from] nuage_store::StoreError),
    #[error(transparent)]
    Blob(#[from] nuage_blob::BlobError),
}

impl Docs {
    /// Deletes the instance's blobs that no revision references and that
    /// no write stored since `now - BLOB_GRACE`.
    pub async fn collect_blobs(
        &self,
        inst: &InstanceId,
        now: SystemTime,
    ) -> Result<Collected, CollectError> {
        let cutoff = now
            .checked_sub(BLOB_GRACE)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        // Idle first, references after: a write that commits in between
        // is in the snapshot.
        let idle = self.blobs.idle_since(inst, cutoff).await?;
        let referenced = self.store.referenced_blobs(inst).await?;
        let mut done = Collected::default();
        for name in idle.iter().filter(|k| !referenced.contains(*k)) {
            if self.blobs.delete_if_idle(inst, name, cutoff).await? {
                done.deleted += 1;
            }
        }
        metrics::counter!("nuage_blobs_collected_total").increment(done.deleted);
        // Young garbage waits for a later sweep: is there any?
        let all = self
            .blobs
            .idle_since(inst, SystemTime::now() + SWEEP_EVERY * 60 * 24)
            .await?;
        done.young = all
            .iter()
            .any(|k| !referenced.contains(k) && !idle.contains(k));
        Ok(done)
    }

    /// Sweeps every instance noted for a sweep, as of `now`; the count of
    /// blobs deleted.
    pub async fn collect_noted_blobs(&self, now: SystemTime) -> Result<u64, CollectError> {
        let mut deleted = 0;
        for (inst, noted_at) in self.store.blob_sweeps_due(100).await? {
            let done = self.collect_blobs(&inst, now).await?;
            deleted += done.deleted;
            if !done.young {
                self.store.end_blob_sweep(&inst, noted_at).await?;
            }
        }
        Ok(deleted)
    }
}

/// The background task that collects garbage blobs (CONVENTIONS 13:
/// started and stopped by `nuage serve`, visible as
/// `nuage_background_tasks{task="blob_collector"}`).
pub struct BlobCollector {
    task: Task,
}

impl BlobCollector {
    pub fn start(docs: Docs) -> BlobCollector {
        BlobCollector {
            task: Task::spawn("blob_collector", |stopping| run(docs, stopping)),
        }
    }

    /// Stops after the sweep in progress; notes left are swept next start.
    pub async fn shutdown(self) {
        self.task.shutdown().await;
    }
}

async fn run(docs: Docs, mut stopping: Stopping) {
    loop {
        if let Err(e) = docs.collect_noted_blobs(SystemTime::now()).await {
            tracing::warn!(error = %e, "collecting unreferenced blobs failed; retrying in a minute");
        }
        if sleep_or_stop(&mut stopping, SWEEP_EVERY).await {
            return;
        }
    }
}
