//! Background tasks with an owner (CONVENTIONS 13): each is started by one
//! service through [`Task::spawn`], runs until its [`Task::shutdown`], and
//! is visible in metrics (`nuage_background_tasks{task}` is 1 while it
//! runs). No bare `tokio::spawn` loop that nobody can stop or see.

use std::future::Future;
use tokio::sync::watch;

/// A running background task. Dropping it stops the task too (its stop
/// signal goes away), so keep it for as long as the task must run.
#[derive(Debug)]
#[must_use = "dropping a Task stops it"]
pub struct Task {
    name: &'static str,
    stop: watch::Sender<bool>,
    handle: tokio::task::JoinHandle<()>,
}

/// What a task watches to know it must stop.
pub type Stopping = watch::Receiver<bool>;

impl Task {
    /// Starts `body`, which must return soon after `stopping` turns true
    /// (select on `stopping.changed()` wherever it waits).
    pub fn spawn<F, Fut>(name: &'static str, body: F) -> Task
    where
        F: FnOnce(Stopping) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (stop, stopping) = watch::channel(false);
        let run = body(stopping);
        let handle = tokio::spawn(async move {
            metrics::gauge!("nuage_background_tasks", "task" => name).set(1.0);
            run.await;
            metrics::gauge!("nuage_background_tasks", "task" => name).set(0.0);
        });
        tracing::debug!(task = name, "background task started");
        Task { name, stop, handle }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Asks the task to stop and waits until it has.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        if let Err(e) = self.handle.await {
            tracing::warn!(task = self.name, error = %e, "a background task ended abnormally");
        }
        tracing::debug!(task = self.name, "background task stopped");
    }
}

/// Sleeps for `d`, or less if the task is asked to stop; true if it must
/// stop.
pub async fn sleep_or_stop(stopping: &mut Stopping, d: std::time::Duration) -> bool {
    if *stopping.borrow() {
        return true;
    }
    tokio::select! {
        _ = tokio::time::sleep(d) => *stopping.borrow(),
        _ = stopping.changed() => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn a_task_runs_until_it_is_shut_down_and_no_longer() {
        let ticks = Arc::new(AtomicU32::new(0));
        let seen = ticks.clone();
        let (started, began) = tokio::sync::oneshot::channel();
        let task = Task::spawn("test_ticker", |mut stopping| async move {
            let _ = started.send(());
            while !sleep_or_stop(&mut stopping, Duration::from_secs(3600)).await {
                seen.fetch_add(1, Ordering::SeqCst);
            }
            seen.fetch_add(100, Ordering::SeqCst);
        });
        began.await.expect("the task started");
        assert_eq!(task.name(), "test_ticker");
        // An hour-long sleep ends at once on shutdown, and the task finishes
        // its own clean-up before shutdown returns.
        tokio::time::timeout(Duration::from_secs(5), task.shutdown())
            .await
            .expect("shutdown does not wait for the sleep");
        assert_eq!(ticks.load(Ordering::SeqCst), 100);
    }
}
