//! Deleting many rows without stalling the other tenants: at most
//! [`PURGE_CHUNK_ROWS`] rows per transaction, each under the writers' lock,
//! so waiting writes of every other instance get their turn between chunks.
//! One code for the two things that are purged: a removed instance
//! (removals.rs) and a deleted doctype (docs/removal.rs).
//!
//! Must stay true: the condition that a purge is recorded is in every
//! statement's SQL (not only checked by the caller), so a chunk can never
//! delete rows of a live instance or doctype, whoever calls it.

use crate::{Engine, InstanceId, Result, Store};
use std::time::Duration;

/// Rows one purge transaction deletes at most: as many as a document write
/// may carry (ARCHITECTURE, "every request's work is bounded").
pub const PURGE_CHUNK_ROWS: usize = 500;

/// What a purge deletes the rows of.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Purge<'a> {
    /// An instance whose removal is recorded in `instance_removals`.
    Instance(&'a InstanceId),
    /// A doctype whose row carries `removal_requested_at`.
    Doctype(&'a InstanceId, &'a str),
}

impl Purge<'_> {
    /// `… WHERE` condition on a purged table's rows: theirs, and recorded
    /// as being purged. Binds `$1` (and `$2`), see [`Purge::binds`].
    fn condition(&self) -> &'static str {
        match self {
            Purge::Instance(_) => {
                "instance_id = $1 AND EXISTS \
                 (SELECT 1 FROM instance_removals r WHERE r.instance_id = $1)"
            }
            Purge::Doctype(..) => {
                "instance_id = $1 AND doctype = $2 AND EXISTS \
                 (SELECT 1 FROM doctypes d WHERE d.instance_id = $1 AND d.doctype = $2 \
                 AND d.removal_requested_at IS NOT NULL)"
            }
        }
    }

    fn binds(&self) -> Vec<&str> {
        match self {
            Purge::Instance(inst) => vec![inst.as_str()],
            Purge::Doctype(inst, doctype) => vec![inst.as_str(), doctype],
        }
    }
}

impl Store {
    /// Deletes at most [`PURGE_CHUNK_ROWS`] rows of `tables` (in order:
    /// the first that still holds rows) in one transaction; returns how
    /// many, 0 once none is left.
    pub(crate) async fn purge_chunk(&self, what: Purge<'_>, tables: &[&str]) -> Result<u64> {
        for table in tables {
            while self.holds_rows(table, what).await? {
                let n = self.delete_chunk(table, what).await?;
                if n > 0 {
                    metrics::counter!("nuage_removed_rows_total").increment(n);
                    return Ok(n);
                }
                // Rows are left that the chunk did not get: on PostgreSQL,
                // another purge of the same rows (the command line beside a
                // server, a request beside the remover) is deleting them.
                // Let it commit.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        Ok(0)
    }

    /// Does `table` hold rows `what` purges?
    async fn holds_rows(&self, table: &str, what: Purge<'_>) -> Result<bool> {
        let mut q = sqlx::query_scalar(sql!(
            "SELECT instance_id FROM {table} WHERE {} LIMIT 1",
            what.condition()
        ));
        for b in what.binds() {
            q = q.bind(b);
        }
        let found: Option<String> = q.fetch_optional(self.pool()).await?;
        Ok(found.is_some())
    }

    async fn delete_chunk(&self, table: &str, what: Purge<'_>) -> Result<u64> {
        // Per engine: rows are chosen by their physical address, which
        // every table has, rather than by a primary key of 2 to 5 columns.
        // The subquery reads the (instance_id, …) primary key's prefix.
        let addr = match self.engine() {
            Engine::Sqlite => "rowid",
            Engine::Postgres => "ctid",
        };
        let chosen = format!(
            "SELECT {addr} FROM {table} WHERE {} LIMIT {PURGE_CHUNK_ROWS}",
            what.condition()
        );
        let statement = match self.engine() {
            Engine::Sqlite => format!("DELETE FROM {table} WHERE rowid IN ({chosen})"),
            // `= ANY(ARRAY(…))` is what PostgreSQL serves with a TID scan.
            Engine::Postgres => format!("DELETE FROM {table} WHERE ctid = ANY(ARRAY({chosen}))"),
        };
        // SQLite: the writers' lock, per chunk, as every document write
        // takes it (`Store::write_guard`); waiting writers get their turn
        // between chunks.
        let _guard = self.write_guard().await;
        let mut tx = self.begin_write().await?;
        let mut q = sqlx::query(sql!("{statement}"));
        for b in what.binds() {
            q = q.bind(b);
        }
        let n = q.execute(&mut *tx).await?.rows_affected();
        tx.commit().await?;
        Ok(n)
    }
}
