//! Owner login sessions. The cookie holds a random token; only its hash is
//! stored.

use crate::{InstanceId, Result, Store};
use sqlx::Row;
use sqlx::any::AnyRow;

#[derive(Clone, Debug)]
pub struct SessionRow {
    pub id: String,
    pub token_hash: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub user_agent: String,
    pub address: String,
}

const COLUMNS: &str = "id, token_hash, created_at, last_seen_at, expires_at, user_agent, address";

fn from_row(r: &AnyRow) -> Result<SessionRow, sqlx::Error> {
    Ok(SessionRow {
        id: r.try_get("id")?,
        token_hash: r.try_get("token_hash")?,
        created_at: r.try_get("created_at")?,
        last_seen_at: r.try_get("last_seen_at")?,
        expires_at: r.try_get("expires_at")?,
        user_agent: r.try_get("user_agent")?,
        address: r.try_get("address")?,
    })
}

impl Store {
    pub async fn create_session(&self, inst: &InstanceId, s: &SessionRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO sessions (instance_id, id, token_hash, created_at, last_seen_at, \
             expires_at, user_agent, address) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(inst.as_str())
        .bind(&s.id)
        .bind(&s.token_hash)
        .bind(s.created_at)
        .bind(s.last_seen_at)
        .bind(s.expires_at)
        .bind(&s.user_agent)
        .bind(&s.address)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn session_by_token(
        &self,
        inst: &InstanceId,
        token_hash: &str,
    ) -> Result<Option<SessionRow>> {
        let row = sqlx::query(sql!(
            "SELECT {COLUMNS} FROM sessions WHERE instance_id = $1 AND token_hash = $2"
        ))
        .bind(inst.as_str())
        .bind(token_hash)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(from_row).transpose()?)
    }

    /// Slides the session's expiry forward.
    pub async fn touch_session(
        &self,
        inst: &InstanceId,
        id: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE sessions SET last_seen_at = $3, expires_at = $4 WHERE instance_id = $1 AND id = $2",
        )
        .bind(inst.as_str())
        .bind(id)
        .bind(now)
        .bind(expires_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn list_sessions(&self, inst: &InstanceId) -> Result<Vec<SessionRow>> {
        let rows = sqlx::query(sql!(
            "SELECT {COLUMNS} FROM sessions WHERE instance_id = $1 ORDER BY last_seen_at DESC"
        ))
        .bind(inst.as_str())
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
    }

    pub async fn delete_session(&self, inst: &InstanceId, id: &str) -> Result<Option<SessionRow>> {
        let row = sqlx::query(sql!(
            "DELETE FROM sessions WHERE instance_id = $1 AND id = $2 RETURNING {COLUMNS}"
        ))
        .bind(inst.as_str())
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(from_row).transpose()?)
    }

    /// Deletes every session but `keep`; returns the token hashes removed.
    pub async fn delete_other_sessions(
        &self,
        inst: &InstanceId,
        keep: Option<&str>,
    ) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "DELETE FROM sessions WHERE instance_id = $1 AND id <> $2 RETURNING token_hash",
        )
        .bind(inst.as_str())
        .bind(keep.unwrap_or(""))
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|r| r.try_get::<String, _>("token_hash"))
            .collect::<Result<_, _>>()?)
    }

    pub async fn purge_expired_sessions(&self, now: i64) -> Result<u64> {
        Ok(sqlx::query("DELETE FROM sessions WHERE expires_at < $1")
            .bind(now)
            .execute(self.pool())
            .await?
            .rows_affected())
    }
}
