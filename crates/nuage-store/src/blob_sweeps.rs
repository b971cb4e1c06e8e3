//! Which blobs an instance's documents still reference, and which
//! instances may hold blobs that nothing references any more (the blob
//! collector, nuage-docs `blob_gc.rs`, deletes those).
//!
//! A revision references the blobs named by the `nuage_blob` member of its
//! `_attachments`, while it has a body: the leaves (winner and conflicts).
//! A write that drops such a body (an update prunes its parent, a deletion,
//! a doctype deleted) notes the instance in `blob_sweeps` in its own
//! transaction; the collector reads the references from one consistent
//! snapshot and forgets the note only if no write noted it again meanwhile.
//!
//! Cost per tenant: one row per instance with something to sweep, none
//! otherwise; a sweep reads the bodies of the instance's revisions that
//! list attachments, a page at a time, and lists its blob folder — once per
//! sweep, and only for instances that dropped an attachment since the last.

use crate::{Engine, InstanceId, Result, Store, now_ms};
use sqlx::Row;
use std::collections::HashSet;

/// The member of a stored attachment that holds its blob key.
pub const BLOB_KEY: &str = "nuage_blob";

/// `LIKE` pattern of bodies that may reference a blob.
pub(crate) const HOLDS_BLOB: &str = "'%\"nuage_blob\"%'";

/// Bodies read per page by [`Store::referenced_blobs`].
const PAGE: i64 = 500;

/// Notes, inside a write's transaction, that `inst` may now hold blobs no
/// revision references.
pub(crate) async fn note_sweep_on(conn: &mut sqlx::AnyConnection, inst: &InstanceId) -> Result<()> {
    sqlx::query(
        "INSERT INTO blob_sweeps (instance_id, noted_at) VALUES ($1, $2) \
         ON CONFLICT (instance_id) DO UPDATE SET noted_at = excluded.noted_at",
    )
    .bind(inst.as_str())
    .bind(now_ms())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The blob keys a stored body references.
fn blob_keys(body: &str, into: &mut HashSet<String>) {
    let Ok(serde_json::Value::Object(doc)) = serde_json::from_str(body) else {
        return;
    };
    if let Some(serde_json::Value::Object(atts)) = doc.get("_attachments") {
        for att in atts.values() {
            if let Some(key) = att.get(BLOB_KEY).and_then(serde_json::Value::as_str) {
                into.insert(key.to_owned());
            }
        }
    }
}

impl Store {
    /// Notes that `inst` may hold blobs no revision references: for a
    /// write that stored blobs and then failed or was refused.
    pub async fn note_blob_sweep(&self, inst: &InstanceId) -> Result<()> {
        let mut conn = self.pool().acquire().await?;
        note_sweep_on(&mut conn, inst).await
    }

    /// Instances noted for a sweep, with the note's time (the oldest first,
    /// at most `limit`).
    pub async fn blob_sweeps_due(&self, limit: i64) -> Result<Vec<(InstanceId, i64)>> {
        let rows = sqlx::query(
            "SELECT instance_id, noted_at FROM blob_sweeps ORDER BY noted_at, instance_id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        crate::instance_pairs(&rows, "noted_at")
    }

    /// Forgets a sweep note unless a write renewed it after `noted_at`
    /// (then there may be new garbage to look at); true if forgotten.
    pub async fn end_blob_sweep(&self, inst: &InstanceId, noted_at: i64) -> Result<bool> {
        let n = sqlx::query("DELETE FROM blob_sweeps WHERE instance_id = $1 AND noted_at = $2")
            .bind(inst.as_str())
            .bind(noted_at)
            .execute(self.pool())
            .await?
            .rows_affected();
        Ok(n > 0)
    }

    /// Every blob key the instance's revisions reference, read from one
    /// snapshot (a revision copied by a write is seen before or after it,
    /// never neither), a page of bodies at a time.
    pub async fn referenced_blobs(&self, inst: &InstanceId) -> Result<HashSet<String>> {
        let mut tx = self.pool().begin().await?;
        // Per engine: SQLite's read transaction is a snapshot (WAL); on
        // PostgreSQL each statement would otherwise see its own.
        if self.engine() == Engine::Postgres {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(&mut *tx)
                .await?;
        }
        let mut keys = HashSet::new();
        let mut after = (String::new(), String::new(), String::new());
        loop {
            let rows = sqlx::query(sql!(
                "SELECT doctype, doc_id, rev, body FROM revs WHERE instance_id = $1 \
                 AND body LIKE {HOLDS_BLOB} AND (doctype, doc_id, rev) > ($2, $3, $4) \
                 ORDER BY doctype, doc_id, rev LIMIT $5"
            ))
            .bind(inst.as_str())
            .bind(&after.0)
            .bind(&after.1)
            .bind(&after.2)
            .bind(PAGE)
            .fetch_all(&mut *tx)
            .await?;
            for r in &rows {
                blob_keys(&r.try_get::<String, _>("body")?, &mut keys);
            }
            match rows.last() {
                Some(r) if rows.len() as i64 == PAGE => {
                    after = (
                        r.try_get("doctype")?,
                        r.try_get("doc_id")?,
                        r.try_get("rev")?,
                    );
                }
                _ => break,
            }
        }
        tx.commit().await?;
        Ok(keys)
    }
}
