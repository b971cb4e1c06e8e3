//! Deleting a doctype in steps that each hold the writer a moment, as an
//! instance's removal does (removals.rs), so a doctype of 100,000
//! documents costs the other tenants nothing when it goes (nuage-docs
//! `Db::delete` drives the steps; ARCHITECTURE, "Deleting a doctype"):
//!
//! 1. [`Store::retire_doctype`], one short transaction: sets the row's
//!    `removal_requested_at`. From then on every write to the doctype is
//!    refused ([`StoreError::DoctypeBeingRemoved`], read by the statement
//!    that locks the row for each write), lookups of its info and the list
//!    of doctypes treat it as missing, and its bytes no longer count
//!    against the quota.
//! 2. [`Store::purge_doctype_step`], until it returns 0: at most
//!    [`PURGE_CHUNK_ROWS`](crate::PURGE_CHUNK_ROWS) rows per transaction under the writers' lock
//!    (purge.rs, the code an instance's removal uses); once none is left,
//!    the `doctypes` row goes, which is the end of the deletion: the name
//!    may be created again, empty.
//!
//! Must stay true: every step is idempotent and the flagged row goes last,
//! so a deletion interrupted anywhere is finished by running step 2 again
//! from [`Store::pending_doctype_removals`]; step 2 touches only a doctype
//! whose row is flagged (the condition is in its SQL). Cost per tenant:
//! none; the flag's partial index holds the deletions in progress only.

use crate::purge::Purge;
use crate::{InstanceId, Result, Store, StoreError, now_ms};

/// The tables holding a doctype's rows, in purge order: index definitions
/// first, so no index build adds entries meanwhile; then every row that
/// names the doctype, before its `doctypes` row (which goes last, alone).
/// With `doctypes`, every table that has a `doctype` column (a test
/// compares this with the schema).
pub(crate) const DOCTYPE_TABLES: &[&str] =
    &["doc_indexes", "index_entries", "local_docs", "revs", "docs"];

impl Store {
    /// Step 1: flags the doctype as being deleted, in one short
    /// transaction. False if it does not exist, or its deletion had begun.
    pub async fn retire_doctype(&self, inst: &InstanceId, doctype: &str) -> Result<bool> {
        let _guard = self.write_guard().await;
        let mut tx = self.begin_write().await?;
        // On PostgreSQL this waits for the writes holding the row's lock;
        // every write after it reads the flag under that lock.
        let n = sqlx::query(
            "UPDATE doctypes SET removal_requested_at = $3, bytes = 0 \
             WHERE instance_id = $1 AND doctype = $2 AND removal_requested_at IS NULL",
        )
        .bind(inst.as_str())
        .bind(doctype)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        if n == 1 {
            tracing::info!(instance = %inst, doctype, "doctype deletion begun");
        }
        Ok(n == 1)
    }

    /// Doctypes whose deletion was begun and not finished, across every
    /// instance, oldest first (at most `limit`).
    pub async fn pending_doctype_removals(&self, limit: i64) -> Result<Vec<(InstanceId, String)>> {
        let rows = sqlx::query(
            "SELECT instance_id, doctype FROM doctypes WHERE removal_requested_at IS NOT NULL \
             ORDER BY removal_requested_at LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        crate::instance_pairs(&rows, "doctype")
    }

    /// Step 2: deletes at most [`PURGE_CHUNK_ROWS`](crate::PURGE_CHUNK_ROWS) rows of a doctype being
    /// deleted, in one transaction; returns how many. When none is left,
    /// deletes its `doctypes` row instead and returns 0: call until then.
    /// Does nothing to a doctype whose deletion was not begun.
    pub async fn purge_doctype_step(&self, inst: &InstanceId, doctype: &str) -> Result<u64> {
        let n = self
            .purge_chunk(Purge::Doctype(inst, doctype), DOCTYPE_TABLES)
            .await?;
        if n == 0 {
            self.drop_removed_doctype(inst, doctype).await?;
        }
        Ok(n)
    }

    /// The end of step 2: the flagged row, and whatever an index build in
    /// flight at step 1 added since the purge passed its table (bounded by
    /// one build step). Deleting the row ends the deletion: its attachments
    /// are left to the blob collector, noted in the same transaction.
    async fn drop_removed_doctype(&self, inst: &InstanceId, doctype: &str) -> Result<()> {
        let _guard = self.write_guard().await;
        let mut tx = self.begin_write().await?;
        let n = sqlx::query(
            "DELETE FROM doctypes WHERE instance_id = $1 AND doctype = $2 \
             AND removal_requested_at IS NOT NULL",
        )
        .bind(inst.as_str())
        .bind(doctype)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Ok(());
        }
        // `docs` and `revs` are not tied to the row by a foreign key on
        // PostgreSQL (migration 0011): whatever a write committed after the
        // purge passed goes here, as the index tables' do.
        for table in ["docs", "revs", "doc_indexes", "index_entries"] {
            sqlx::query(sql!(
                "DELETE FROM {table} WHERE instance_id = $1 AND doctype = $2"
            ))
            .bind(inst.as_str())
            .bind(doctype)
            .execute(&mut *tx)
            .await?;
        }
        crate::blob_sweeps::note_sweep_on(&mut tx, inst).await?;
        tx.commit().await?;
        tracing::info!(instance = %inst, doctype, "doctype deleted");
        Ok(())
    }
}

/// The refusal of a write to a doctype being deleted.
pub(crate) fn being_removed(doctype: &str) -> StoreError {
    StoreError::DoctypeBeingRemoved {
        doctype: doctype.to_owned(),
    }
}
