//! Fresh planner statistics on PostgreSQL while tables grow fast.
//!
//! A new database fills at thousands of documents a second (a first
//! replication), far faster than autovacuum's analyze (a minute apart):
//! with no statistics the planner served primary-key lookups of `docs` from
//! the sequence index, scanning a whole doctype per GET (1,000 requests/s
//! instead of tens of thousands). So each process asks for `ANALYZE` itself
//! whenever the rows it wrote double (1,000, 2,000, 4,000, …), in the
//! background. SQLite's planner needs no statistics for these queries.

use crate::{Engine, Store};
use std::sync::atomic::{AtomicU64, Ordering};

pub(crate) struct AnalyzeSchedule {
    written: AtomicU64,
    next: AtomicU64,
}

impl Default for AnalyzeSchedule {
    fn default() -> Self {
        AnalyzeSchedule {
            written: AtomicU64::new(0),
            next: AtomicU64::new(1000),
        }
    }
}

impl Store {
    /// Counts rows written; past the next threshold, analyzes in the
    /// background.
    pub(crate) fn note_rows_written(&self, n: u64) {
        if self.engine() != Engine::Postgres || n == 0 {
            return;
        }
        let total = self.analyze.written.fetch_add(n, Ordering::Relaxed) + n;
        let next = self.analyze.next.load(Ordering::Relaxed);
        if total < next
            || self
                .analyze
                .next
                .compare_exchange(
                    next,
                    next.saturating_mul(2),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_err()
        {
            return;
        }
        let pool = self.pool().clone();
        tokio::spawn(async move {
            if let Err(e) = sqlx::raw_sql("ANALYZE docs; ANALYZE revs")
                .execute(&pool)
                .await
            {
                tracing::warn!(error = %e, "ANALYZE after a burst of writes failed; autovacuum will catch up");
            }
        });
    }
}
