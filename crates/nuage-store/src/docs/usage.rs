//! Storage used per instance, and its quota (`nuage instance add --quota`).
//!
//! What counts: every revision row, history included ([`row_bytes`]: a
//! replicated document brings up to `_revs_limit` of them, whose bodies
//! were never sent), plus the body of each revision that still has one (the
//! winner and any conflicting leaf) with the attachments it lists
//! ([`stored_size`], kept in `revs.size`, 0 once pruned), and `_local`
//! documents (their body's length). Each doctype row keeps its total
//! (`doctypes.bytes`), changed in the transaction of every write, so
//! checking a quota is one indexed sum over the instance's doctypes, never
//! a scan of its documents.
//!
//! The law every write keeps (migration 0010 made stored totals obey it):
//! `doctypes.bytes` = Σ over its `revs` rows of `size + row_bytes(doc_id,
//! rev)` + Σ over its `_local` documents of their body's length — except
//! a doctype being deleted, whose total is 0 at once while its rows are
//! purged. Inserting a row adds its share, pruning a body subtracts its
//! `size`, stemming subtracts what the deleted rows held (read back from
//! the rows it deletes), so no total drifts. Deleting a document keeps its
//! history (a tombstone and its ancestors, as CouchDB does, so replicas
//! learn of the deletion): after every document is deleted the doctype
//! still counts `row_bytes` per revision kept and its tombstones' bodies
//! (`{}`, 2 bytes each); deleting the doctype, or the instance, frees all.
//!
//! Must stay true: a write that would take an instance over its quota is
//! refused before anything is committed, document by document (a batch's
//! other documents are written if they fit: write.rs `apply_batch`); writes that free as much as they
//! add (compaction by pruning) always pass, and so does a deletion: the
//! row of a tombstone that deletes a live leaf is not held against the
//! quota ([`Charge::deletion`]). Each such tombstone ends a leaf that a
//! write counted when it made it, and everything that grows is checked, so
//! deletions take an instance past its quota by at most one row per live
//! leaf it held. On PostgreSQL two concurrent batches to different
//! doctypes of one instance may both pass the check: the overshoot is
//! bounded by one batch per doctype.

use crate::{InstanceId, Result, StoreError};
use serde_json::Value;

/// What a revision row costs beside its body: a fixed share for the row
/// and its primary-key entry (instance, doctype, position, flags), its
/// document id, and its rev id twice (its own, and again as the `parent`
/// its child names). Computed from columns that never change, so stemming
/// subtracts exactly what the insert added; migration 0010 computes the
/// same in SQL (`OCTET_LENGTH`, bytes as `str::len` counts them).
pub(crate) fn row_bytes(doc_id: &str, rev: &str) -> i64 {
    REV_ROW_BYTES + doc_id.len() as i64 + 2 * rev.len() as i64
}

/// The fixed part of [`row_bytes`]. Migration 0010 repeats the number.
pub(crate) const REV_ROW_BYTES: i64 = 64;

/// What a batch's new rows cost, and the part of it not held against the
/// quota.
#[derive(Debug, Default)]
pub(crate) struct Charge {
    /// Bytes the batch's new rows add to the total.
    pub added: i64,
    /// Of those, the rows of tombstones that delete a live leaf (their
    /// bodies still count): a deletion passes at a full quota.
    pub deletion: i64,
}

/// How much a revision's body occupies: its JSON and the attachments it
/// lists (by their `length`).
pub(crate) fn stored_size(body: &str) -> i64 {
    let mut size = body.len() as i64;
    if body.contains("\"_attachments\"")
        && let Ok(Value::Object(doc)) = serde_json::from_str::<Value>(body)
        && let Some(Value::Object(atts)) = doc.get("_attachments")
    {
        size += atts
            .values()
            .filter_map(|a| a.get("length").and_then(Value::as_i64))
            .sum::<i64>();
    }
    size
}

/// The most a write's new rows can add to its doctype's total, before it
/// is applied: every revision of its path a new row (at most `revs_limit`
/// of them, what stemming keeps), its body kept. What the write then frees
/// (pruning, stemming, a deletion's discount) only lowers it. A new
/// document's edit has position 1; on a `held` document (maybe deleted, to
/// be written again after its tombstone) the position is counted at its
/// longest. For a document the store does not hold, this is exactly what
/// the write adds.
pub(crate) fn most_added(w: &crate::docs::DocWrite, revs_limit: usize, held: bool) -> i64 {
    use crate::docs::DocWrite;
    use nuage_core::revs::{MAX_POS, Rev};
    match w {
        DocWrite::Edit {
            id,
            parent,
            new_id,
            body,
            ..
        } => {
            let pos = match parent {
                Some(p) => p.pos.saturating_add(1),
                None if held => MAX_POS,
                None => 1,
            };
            row_bytes(id, &Rev::new(pos, new_id.as_str()).to_string()) + stored_size(body)
        }
        DocWrite::Replicate { id, path, body, .. } => {
            path.iter()
                .take(revs_limit)
                .map(|r| row_bytes(id, &r.to_string()))
                .sum::<i64>()
                + stored_size(body)
        }
    }
}

/// An instance's storage, for a quota message or a settings page.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub quota: Option<i64>,
    pub used: i64,
    /// The biggest doctypes, largest first.
    pub by_doctype: Vec<(String, i64)>,
}

/// Refuses `delta` more bytes for an instance over its quota (inside the
/// writing transaction).
pub(crate) async fn check_quota(
    conn: &mut sqlx::AnyConnection,
    inst: &InstanceId,
    quota: Option<i64>,
    delta: i64,
) -> Result<()> {
    let Some(quota) = quota.filter(|_| delta > 0) else {
        return Ok(());
    };
    let usage = usage_on(conn, inst, Some(quota)).await?;
    if usage.used + delta > quota {
        return Err(StoreError::QuotaExceeded {
            needed: delta,
            usage,
        });
    }
    Ok(())
}

pub(crate) async fn usage_on(
    conn: &mut sqlx::AnyConnection,
    inst: &InstanceId,
    quota: Option<i64>,
) -> Result<Usage> {
    use sqlx::Row;
    let rows = sqlx::query(
        "SELECT doctype, bytes FROM doctypes WHERE instance_id = $1 AND bytes > 0 ORDER BY bytes DESC",
    )
    .bind(inst.as_str())
    .fetch_all(&mut *conn)
    .await?;
    let mut usage = Usage {
        quota,
        ..Default::default()
    };
    for r in &rows {
        let bytes: i64 = r.try_get("bytes")?;
        usage.used += bytes;
        if usage.by_doctype.len() < 3 {
            usage.by_doctype.push((r.try_get("doctype")?, bytes));
        }
    }
    Ok(usage)
}

impl crate::Store {
    /// The instance's storage and quota.
    pub async fn usage(&self, inst: &InstanceId) -> Result<Usage> {
        let mut conn = self.pool().acquire().await?;
        let quota: Option<i64> =
            sqlx::query_scalar("SELECT quota_bytes FROM instances WHERE id = $1")
                .bind(inst.as_str())
                .fetch_optional(&mut *conn)
                .await?
                .flatten();
        let usage = usage_on(&mut conn, inst, quota).await?;
        conn.clean();
        Ok(usage)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_history_row_counts_its_ids() {
        let rev = "1000-0123456789abcdef0123456789abcdef";
        assert_eq!(super::row_bytes("n1", rev), 64 + 2 + 2 * 37);
        // Bytes, as PostgreSQL's and SQLite's OCTET_LENGTH count them.
        assert_eq!(super::row_bytes("é", "1-a"), 64 + 2 + 2 * 3);
    }

    #[test]
    fn migration_0010_counts_rows_as_the_writes_do() {
        let sql = include_str!("../../migrations/0010_revision_rows_count.sql");
        let formula = format!(
            "{} + OCTET_LENGTH(r.doc_id) + 2 * OCTET_LENGTH(r.rev)",
            super::REV_ROW_BYTES
        );
        assert!(sql.contains(&formula), "{formula}");
    }

    #[test]
    fn attachments_count_with_their_document() {
        assert_eq!(super::stored_size(r#"{"a":1}"#), 7);
        let body = r#"{"_attachments":{"p.png":{"length":1000,"stub":true},"q":{"length":24}}}"#;
        assert_eq!(super::stored_size(body), body.len() as i64 + 1024);
    }
}
