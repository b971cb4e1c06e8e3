//! TOTP recovery codes: single use, stored hashed.

use crate::{InstanceId, Result, Store};

impl Store {
    /// Replaces every recovery code of the instance with new ones.
    pub async fn replace_recovery_codes(&self, inst: &InstanceId, hashes: &[String]) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("DELETE FROM recovery_codes WHERE instance_id = $1")
            .bind(inst.as_str())
            .execute(&mut *tx)
            .await?;
        for h in hashes {
            sqlx::query("INSERT INTO recovery_codes (instance_id, code_hash) VALUES ($1, $2)")
                .bind(inst.as_str())
                .bind(h)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Marks a code used; false if it is unknown or already used.
    pub async fn use_recovery_code(&self, inst: &InstanceId, hash: &str, now: i64) -> Result<bool> {
        let n = sqlx::query(
            "UPDATE recovery_codes SET used_at = $3 \
             WHERE instance_id = $1 AND code_hash = $2 AND used_at IS NULL",
        )
        .bind(inst.as_str())
        .bind(hash)
        .bind(now)
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    pub async fn unused_recovery_codes(&self, inst: &InstanceId) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM recovery_codes WHERE instance_id = $1 AND used_at IS NULL",
        )
        .bind(inst.as_str())
        .fetch_one(self.pool())
        .await?)
    }
}
