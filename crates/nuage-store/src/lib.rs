//! The SQL store: instances, credentials and (later) documents, on SQLite or
//! PostgreSQL through one code path (sqlx's `Any` driver).
//!
//! Must stay true: every method that touches an instance's rows takes its
//! [`InstanceId`] first, and every query filters on `instance_id`; one
//! instance can never read or change another's rows. SQL that differs
//! between the engines is written per engine in one place and marked.
//!
//! Types are kept to what `Any` binds on both engines: TEXT ids, BIGINT
//! epoch milliseconds, TEXT JSON.

/// SQL built from constant fragments (column lists, table names), never from
/// input: every value is bound.
macro_rules! sql {
    ($($t:tt)*) => {
        sqlx::AssertSqlSafe(format!($($t)*))
    };
}

mod analyze;
mod app_passwords;
mod blob_sweeps;
mod checkpoint;
mod connect;
mod docs;
mod error;
mod events;
mod instances;
mod migrate;
mod oauth;
mod pool;
mod purge;
mod recovery;
mod removals;
mod sessions;
mod task;
mod throttle;
mod tokens;

#[cfg(feature = "testing")]
pub mod testing;

pub use app_passwords::AppPasswordRow;
pub use blob_sweeps::BLOB_KEY;
pub use connect::Engine;
pub use docs::{
    AllDocsQuery, BUILD_STEP_DOCS, ChangeRow, DocHead, DocWrite, DoctypeInfo, EntryRow, GroupStats,
    IndexBuild, IndexBuilder, IndexScan, LocalDoc, LocalKey, MAX_DOCTYPES, MAX_INDEXES,
    MAX_STORED_KEY_BYTES, RevRow, Usage, WRITES_PER_TRANSACTION, WriteOutcome, stored_key,
};
pub use error::StoreError;
pub use events::{DocEvent, EventBus};
pub use instances::{InstanceRow, NewInstance};
pub use oauth::{AuthCodeRow, CodeExchange, OAuthClientRow};
pub use removals::{PURGE_CHUNK_ROWS, PendingRemoval};
pub use sessions::SessionRow;
pub use task::{Stopping, Task, sleep_or_stop};
pub use throttle::ThrottleRow;
pub use tokens::{TokenKind, TokenRow};

pub use nuage_core::InstanceId;
use pool::Pool;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A handle on the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
    /// Where write transactions run (`connect.rs`, `begin_write`): on
    /// SQLite one connection of its own, on PostgreSQL `pool`.
    writer: Pool,
    /// Where commits that need not wait for the disk run
    /// (`begin_write_relaxed`): on SQLite a connection of its own with
    /// synchronous=NORMAL, on PostgreSQL `pool`.
    relaxed: Pool,
    engine: Engine,
    /// SQLite allows one writer: document writes take this lock so that two
    /// of our own transactions never deadlock upgrading a read lock, and so
    /// that in-process events leave in commit order.
    write_lock: std::sync::Arc<tokio::sync::Mutex<()>>,
    events: EventBus,
    url: std::sync::Arc<str>,
    analyze: std::sync::Arc<analyze::AnalyzeSchedule>,
    /// Woken when a write registers an index to build (docs/builder.rs).
    index_wake: std::sync::Arc<tokio::sync::Notify>,
    /// Woken when this process begins an instance removal (removals.rs),
    /// or leaves a doctype's deletion unfinished (docs/removal.rs).
    removal_wake: std::sync::Arc<tokio::sync::Notify>,
    /// SQLite only: the group-commit writer document writes go through.
    group: Option<std::sync::Arc<docs::group::GroupWriter>>,
    /// A test's pause of the next document write to a doctype
    /// (`Store::pause_next_write`).
    #[cfg(feature = "testing")]
    pause: testing::PauseSlot,
}

impl Store {
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// Document events (every committed write, in commit order), from this
    /// process and, on PostgreSQL, from every process sharing the database.
    pub fn events(&self) -> &EventBus {
        &self.events
    }

    /// Checks that the database answers (for `GET /status`).
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Stops the group writer (after the batches it holds), then closes
    /// every connection, waiting for queries in flight.
    pub async fn close(&self) {
        if let Some(group) = &self.group {
            group.shutdown().await;
        }
        // On PostgreSQL these are `pool` itself; closing twice is harmless.
        self.writer.close().await;
        self.relaxed.close().await;
        self.pool.close().await;
    }
}

/// `(instance_id, column)` of each row, for queries that list work across
/// instances.
pub(crate) fn instance_pairs<T>(
    rows: &[sqlx::any::AnyRow],
    column: &str,
) -> Result<Vec<(InstanceId, T)>>
where
    T: for<'r> sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    use sqlx::Row;
    rows.iter()
        .map(|r| {
            Ok((
                InstanceId::new(r.try_get::<String, _>("instance_id")?),
                r.try_get::<T, _>(column)?,
            ))
        })
        .collect()
}

/// Milliseconds since the Unix epoch: the one time unit stored.
pub fn now_ms() -> i64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
