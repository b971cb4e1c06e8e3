//! Group commit on SQLite (DESIGN §3: durable need not mean slow). Document
//! writes that arrive while another commit is being synced wait in a queue;
//! the writer then applies all of them in one transaction and pays one
//! fsync for the group, instead of one each.
//!
//! Must stay true: every batch keeps its own outcome; a batch's writes are
//! acknowledged only after the commit that holds them; if the group's
//! transaction fails, each batch is retried alone, so one bad batch never
//! fails its neighbours; events leave in commit order.

use super::write::DocWrite;
use super::write::WriteOutcome;
use crate::{InstanceId, Result, Store, StoreError};
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
}

impl GroupWriter {
    /// Starts the writer task for `store` (whose own `group` is unset, so
    /// the task writes directly).
    pub(crate) fn start(store: Store) -> GroupWriter {
        let (tx, rx) = mpsc::channel(1024);
        let task = crate::Task::spawn("group_writer", |stopping| run(store, rx, stopping));
        GroupWriter {
            tx,
            task: std::sync::Mutex::new(Some(task)),
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

fn gone(job: Job) -> StoreError {
    StoreError::Db(sqlx::Error::Protocol(format!(
        "the group writer is gone; {} write(s) to {} were not made",
        job.writes.len(),
        job.doctype
    )))
}

async fn run(store: Store, mut rx: mpsc::Receiver<Job>, mut stopping: crate::Stopping) {
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
                for (job, (outcomes, events, rows, pending)) in jobs.into_iter().zip(applied) {
                    store.after_commit(rows, events, pending);
                    let _ = job.reply.send(Ok(outcomes));
                }
            }
            Err(e) => {
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

async fn commit_group(store: &Store, jobs: &mut [Job]) -> Result<Vec<Done>> {
    let _guard = store.write_guard().await;
    let mut tx = store.begin_write().await?;
    let mut done = Vec::with_capacity(jobs.len());
    for job in jobs.iter_mut() {
        let writes = std::mem::take(&mut job.writes);
        let a = store
            .apply_batch(&mut tx, &job.inst, &job.doctype, writes)
            .await?;
        done.push((a.outcomes, a.events, a.rows, a.index_pending));
    }
    tx.commit().await?;
    Ok(done)
}
