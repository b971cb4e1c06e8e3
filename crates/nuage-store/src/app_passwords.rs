//! App passwords: named, scoped secrets for DAV clients and scripts.

use crate::{InstanceId, Result, Store, StoreError};
use sqlx::Row;
use sqlx::any::AnyRow;

#[derive(Clone, Debug)]
pub struct AppPasswordRow {
    pub id: String,
    pub name: String,
    pub scope: String,
    pub secret_hash: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

const COLUMNS: &str = "id, name, scope, secret_hash, created_at, last_used_at";

fn from_row(r: &AnyRow) -> Result<AppPasswordRow, sqlx::Error> {
    Ok(AppPasswordRow {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        scope: r.try_get("scope")?,
        secret_hash: r.try_get("secret_hash")?,
        created_at: r.try_get("created_at")?,
        last_used_at: r.try_get("last_used_at")?,
    })
}

impl Store {
    pub async fn create_app_password(&self, inst: &InstanceId, p: &AppPasswordRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO app_passwords (instance_id, id, name, scope, secret_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(inst.as_str())
        .bind(&p.id)
        .bind(&p.name)
        .bind(&p.scope)
        .bind(&p.secret_hash)
        .bind(p.created_at)
        .execute(self.pool())
        .await
        .map_err(|e| StoreError::unique(e, "that app password"))?;
        Ok(())
    }

    pub async fn app_password_by_secret(
        &self,
        inst: &InstanceId,
        secret_hash: &str,
    ) -> Result<Option<AppPasswordRow>> {
        let row = sqlx::query(sql!(
            "SELECT {COLUMNS} FROM app_passwords WHERE instance_id = $1 AND secret_hash = $2"
        ))
        .bind(inst.as_str())
        .bind(secret_hash)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(from_row).transpose()?)
    }

    pub async fn list_app_passwords(&self, inst: &InstanceId) -> Result<Vec<AppPasswordRow>> {
        let rows = sqlx::query(sql!(
            "SELECT {COLUMNS} FROM app_passwords WHERE instance_id = $1 ORDER BY created_at"
        ))
        .bind(inst.as_str())
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
    }

    pub async fn touch_app_password(&self, inst: &InstanceId, id: &str, now: i64) -> Result<()> {
        sqlx::query(
            "UPDATE app_passwords SET last_used_at = $3 WHERE instance_id = $1 AND id = $2",
        )
        .bind(inst.as_str())
        .bind(id)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Deletes one app password; returns its secret hash if it existed.
    pub async fn delete_app_password(&self, inst: &InstanceId, id: &str) -> Result<Option<String>> {
        let row = sqlx::query(
            "DELETE FROM app_passwords WHERE instance_id = $1 AND id = $2 RETURNING secret_hash",
        )
        .bind(inst.as_str())
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row
            .map(|r| r.try_get::<String, _>("secret_hash"))
            .transpose()?)
    }
}
