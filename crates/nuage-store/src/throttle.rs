//! Login failure counters, per instance and client key. Kept in the store so
//! that every server process behind a load balancer sees the same counts.

use crate::{InstanceId, Result, Store};
use sqlx::Row;

#[derive(Clone, Copy, Debug, Default)]
pub struct ThrottleRow {
    pub failures: i64,
    pub last_failure_at: i64,
}

impl Store {
    pub async fn throttle(&self, inst: &InstanceId, key: &str) -> Result<ThrottleRow> {
        let row = sqlx::query(
            "SELECT failures, last_failure_at FROM login_throttle WHERE instance_id = $1 AND client_key = $2",
        )
        .bind(inst.as_str())
        .bind(key)
        .fetch_optional(self.pool())
        .await?;
        Ok(match row {
            Some(r) => ThrottleRow {
                failures: r.try_get("failures")?,
                last_failure_at: r.try_get("last_failure_at")?,
            },
            None => ThrottleRow::default(),
        })
    }

    /// Counts one more failure; returns the new count.
    pub async fn record_login_failure(
        &self,
        inst: &InstanceId,
        key: &str,
        now: i64,
    ) -> Result<i64> {
        let failures: i64 = sqlx::query_scalar(
            "INSERT INTO login_throttle (instance_id, client_key, failures, last_failure_at) \
             VALUES ($1, $2, 1, $3) ON CONFLICT (instance_id, client_key) DO UPDATE \
             SET failures = login_throttle.failures + 1, last_failure_at = $3 RETURNING failures",
        )
        .bind(inst.as_str())
        .bind(key)
        .bind(now)
        .fetch_one(self.pool())
        .await?;
        Ok(failures)
    }

    pub async fn clear_login_failures(&self, inst: &InstanceId, key: &str) -> Result<()> {
        sqlx::query("DELETE FROM login_throttle WHERE instance_id = $1 AND client_key = $2")
            .bind(inst.as_str())
            .bind(key)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
