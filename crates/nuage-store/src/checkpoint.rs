//! SQLite's WAL checkpoints, off the write path. By default SQLite makes
//! the commit that pushes the WAL past 1,000 pages copy them into the
//! database and sync it: that write pays for everyone's, and on a large
//! database (a provider's 10,000 tenants: 1.5 GB) it shows in p99. The
//! checkpointer task runs a PASSIVE checkpoint every 200 ms on a
//! connection of its own — it never blocks a writer or waits for a reader —
//! so the WAL stays short, commits stay cheap, and `journal_size_limit`
//! truncates the file each time the WAL restarts. Without the task (the
//! CLI, tests) SQLite's own automatic checkpoints still apply.

use crate::{Engine, Store, Task, sleep_or_stop};
use std::time::Duration;

const EVERY: Duration = Duration::from_millis(200);

impl Store {
    /// On SQLite, starts the checkpointer; `None` on PostgreSQL.
    pub fn start_checkpointer(&self) -> Option<Task> {
        if self.engine() != Engine::Sqlite {
            return None;
        }
        let store = self.clone();
        Some(Task::spawn(
            "sqlite_checkpointer",
            |mut stopping| async move {
                while !sleep_or_stop(&mut stopping, EVERY).await {
                    let r = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                        .execute(store.pool())
                        .await;
                    if let Err(e) = r {
                        tracing::warn!(error = %e, "a WAL checkpoint failed; SQLite's own checkpoints still run");
                        if sleep_or_stop(&mut stopping, Duration::from_secs(5)).await {
                            return;
                        }
                    }
                }
            },
        ))
    }
}
