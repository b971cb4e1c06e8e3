//! Storage used per instance, and its quota (`nuage instance add --quota`).
//!
//! What counts: every revision that still has a body (the winner and any
//! conflicting leaf), each with the attachments it lists, and `_local`
//! documents. Each doctype row keeps its total (`doctypes.bytes`), changed
//! in the transaction of every write, so checking a quota is one indexed
//! sum over the instance's doctypes, never a scan of its documents.
//!
//! Must stay true: a write that would take an instance over its quota is
//! refused before anything is committed; writes that free space (deletions,
//! compaction by pruning) always pass. On PostgreSQL two concurrent batches
//! to different doctypes of one instance may both pass the check: the
//! overshoot is bounded by one batch per doctype.

use crate::{InstanceId, Result, StoreError};
use serde_json::Value;

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
        usage_on(&mut conn, inst, quota).await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn attachments_count_with_their_document() {
        assert_eq!(super::stored_size(r#"{"a":1}"#), 7);
        let body = r#"{"_attachments":{"p.png":{"length":1000,"stub":true},"q":{"length":24}}}"#;
        assert_eq!(super::stored_size(body), body.len() as i64 + 1024);
    }
}
