//! Group commit on SQLite (DESIGN §3: durable need not mean slow). Document
//! writes that arrive while another commit is being synced wait in a queue;
//! the writer then applies all of them in one transaction and pays one
//! fsync for the group, instead of one each.
//!
//! Must stay true: every batch keeps its own outcome; a batch's writes are
//! acknowledged only after the commit that holds them; each batch runs in
//! a savepoint, so a batch refused (over quota) or failing is undone alone
//! and answers its own error while the rest of the group commits, without
//! a warning: a refusal is the caller's answer. If the group's transaction
//! itself fails, each batch is retried alone (with a WARN: that is a server
//! problem), so one bad batch never fails its neighbours; events leave in
//! commit order.

use super::write::DocWrite;
use super::write::WriteOutcome;
use crate::{InstanceId, Result, Store, StoreError};
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{mpsc, oneshot};

/// Batches committed together at most.
const MAX_GROUP: usize = 64;

struct Job {
    inst: InstanceId,
    doctype: String,
    writes: Vec<DocWrite>,
    reply: oneshot::Sender<Result<Vec<WriteOutcome>>>,
}

pub(crate) struct GroupWriter {
    tx: mpsc::Sender<Job>,
    task: std::sync::Mutex<Option<crate::Task>>,
    stats: std::sync::Arc<Counters>,
}

/// What the writer did since it started (also in metrics).
#[derive(Default)]
struct Counters {
    received: AtomicU64,
    groups: AtomicU64,
    retries: AtomicU64,
}

/// What the group writer did since the store opened (SQLite only).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GroupStats {
    /// Batches taken off the queue.
    pub received: u64,
    /// Groups of two or more batches committed in one transaction.
    pub groups: u64,
    /// Groups whose transaction failed, so each batch was retried alone.
    pub retries: u64,
    /// Batches waiting in the queue now.
    pub queued: u64,
}

impl GroupWriter {
    /// Starts the writer task for `store` (whose own `group` is unset, so
    /// the task writes directly).
    pub(crate) fn start(store: Store) -> GroupWriter {
        let (tx, rx) = mpsc::channel(1024);
        let stats = std::sync::Arc::new(Counters::default());
        let counters = stats.clone();
        let task = crate::Task::spawn("group_writer", |stopping| {
            run(store, rx, stopping, counters)
        });
        GroupWriter {
            tx,
            task: std::sync::Mutex::new(Some(task)),
            stats,
        }
    }

    pub(crate) fn stats(&self) -> GroupStats {
        GroupStats {
            received: self.stats.received.load(Ordering::Relaxed),
            groups: self.stats.groups.load(Ordering::Relaxed),
            retries: self.stats.retries.load(Ordering::Relaxed),
            queued: (self.tx.max_capacity() - self.tx.capacity()) as u64,
        }
    }

    /// Stops the writer once the batches already queued are written; later
    /// writes fail with a clear error.
    pub(crate) async fn shutdown(&self) {
        let task = self.task.lock().ok().and_then(|mut t| t.take());
        if let Some(task) = task {
            task.shutdown().await;
        }
    }

    pub(crate) async fn submit(
        &self,
        inst: &InstanceId,
        doctype: &str,
        writes: Vec<DocWrite>,
    ) -> Result<Vec<WriteOutcome>> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            inst: inst.clone(),
            doctype: doctype.to_owned(),
            writes,
            reply,
        };
        if let Err(mpsc::error::SendError(job)) = self.tx.send(job).await {
            return Err(gone(job));
        }
        answer.await.unwrap_or_else(|_| {
            Err(StoreError::Db(sqlx::Error::Protocol(
                "the group writer stopped before answering".into(),
            )))
        })
    }
}

impl Store {
    /// What the group writer did, or `None` where there is none
    /// (PostgreSQL groups concurrent commits itself).
    pub fn group_stats(&self) -> Option<GroupStats> {
        self.group.as_ref().map(|g| g.stats())
    }

    /// Holds the writers' lock on SQLite until the guard drops, so that a
    /// test can queue batches behind it and watch them commit as a group.
    #[cfg(feature = "testing")]
    pub async fn hold_writes(&self) -> tokio::sync::OwnedMutexGuard<()> {
        self.write_lock.clone().lock_owned().await
    }
}

fn gone(job: Job) -> StoreError {
    StoreError::Db(sqlx::Error::Protocol(format!(
        "the group writer is gone; {} write(s) to {} were not made",
        job.writes.len(),
        job.doctype
    )))
}

async fn run(
    store: Store,
    mut rx: mpsc::Receiver<Job>,
    mut stopping: crate::Stopping,
    stats: std::sync::Arc<Counters>,
) {
    loop {
        let first = tokio::select! {
            job = rx.recv() => job,
            _ = stopping.changed() => {
                // No new batches; those already queued are still written.
                rx.close();
                rx.recv().await
            }
        };
        let Some(first) = first else {
            return;
        };
        let mut jobs = vec![first];
        while jobs.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        stats
            .received
            .fetch_add(jobs.len() as u64, Ordering::Relaxed);
        if jobs.len() == 1 {
            let j = jobs.pop().unwrap_or_else(|| unreachable!());
            let r = store.write_docs_alone(&j.inst, &j.doctype, j.writes).await;
            let _ = j.reply.send(r);
            continue;
        }
        // Kept to retry each batch alone if the group fails.
        let copies: Vec<Vec<DocWrite>> = jobs.iter().map(|j| j.writes.clone()).collect();
        match commit_group(&store, &mut jobs).await {
            Ok(applied) => {
                stats.groups.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("nuage_group_commits_total").increment(1);
                for (job, done) in jobs.into_iter().zip(applied) {
                    let answer = done.map(|(outcomes, events, rows, pending)| {
                        store.after_commit(rows, events, pending);
                        outcomes
                    });
                    let _ = job.reply.send(answer);
                }
            }
            Err(e) => {
                stats.retries.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("nuage_group_commit_retries_total").increment(1);
                tracing::warn!(error = %e, batches = jobs.len(), "a group commit failed; retrying each batch alone");
                for (job, writes) in jobs.into_iter().zip(copies) {
                    let r = store
                        .write_docs_alone(&job.inst, &job.doctype, writes)
                        .await;
                    let _ = job.reply.send(r);
                }
            }
        }
    }
}

type Done = (Vec<WriteOutcome>, Vec<crate::DocEvent>, u64, bool);

/// Commits the group's batches in one transaction, each in a savepoint of
/// its own: a batch that fails (a quota refusal, most often) is rolled back
/// to its savepoint and answers its error alone, and the others commit.
/// Only a failure of the transaction itself (a savepoint that cannot be
/// rolled back to, the commit) fails the group.
async fn commit_group(store: &Store, jobs: &mut [Job]) -> Result<Vec<Result<Done>>> {
    let _guard = store.write_guard().await;
    let mut tx = store.begin_write().await?;
    let mut done = Vec::with_capacity(jobs.len());
    for job in jobs.iter_mut() {
        let writes = std::mem::take(&mut job.writes);
        sqlx::query("SAVEPOINT batch").execute(&mut *tx).await?;
        match store
            .apply_batch(&mut tx, &job.inst, &job.doctype, writes)
            .await
        {
            Ok(a) => done.push(Ok((a.outcomes, a.events, a.rows, a.index_pending))),
            Err(e) => {
                sqlx::query("ROLLBACK TO SAVEPOINT batch")
                    .execute(&mut *tx)
                    .await?;
                done.push(Err(e));
            }
        }
        sqlx::query("RELEASE SAVEPOINT batch")
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(done)
}
