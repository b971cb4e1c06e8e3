//! Instances: one person's cloud each, found by domain. Removing one is
//! done in steps (removals.rs); lookups stop seeing it at the first.

use crate::{InstanceId, Result, Store, StoreError, now_ms};
use sqlx::Row;
use sqlx::any::AnyRow;

#[derive(Clone, Debug)]
pub struct InstanceRow {
    pub id: InstanceId,
    pub domain: String,
    pub created_at: i64,
    pub quota_bytes: Option<i64>,
    pub passphrase_hash: Option<String>,
    pub onboarding_hash: Option<String>,
    pub onboarding_expires_at: Option<i64>,
    pub totp_secret: Option<String>,
    pub totp_enabled: bool,
    pub totp_last_step: i64,
}

impl InstanceRow {
    pub fn onboarded(&self) -> bool {
        self.passphrase_hash.is_some()
    }
}

#[derive(Clone, Debug, Default)]
pub struct NewInstance {
    pub domain: String,
    pub quota_bytes: Option<i64>,
    pub passphrase_hash: Option<String>,
    pub onboarding_hash: Option<String>,
    pub onboarding_expires_at: Option<i64>,
}

const COLUMNS: &str = "id, domain, created_at, quota_bytes, passphrase_hash, onboarding_hash, \
     onboarding_expires_at, totp_secret, totp_enabled, totp_last_step";

fn from_row(r: &AnyRow) -> Result<InstanceRow, sqlx::Error> {
    Ok(InstanceRow {
        id: InstanceId::new(r.try_get::<String, _>("id")?),
        domain: r.try_get("domain")?,
        created_at: r.try_get("created_at")?,
        quota_bytes: r.try_get("quota_bytes")?,
        passphrase_hash: r.try_get("passphrase_hash")?,
        onboarding_hash: r.try_get("onboarding_hash")?,
        onboarding_expires_at: r.try_get("onboarding_expires_at")?,
        totp_secret: r.try_get("totp_secret")?,
        totp_enabled: r.try_get::<i64, _>("totp_enabled")? != 0,
        totp_last_step: r.try_get("totp_last_step")?,
    })
}

/// Lookups see only instances whose removal has not begun: a removed
/// instance is gone to every request at once, though its rows go a chunk at
/// a time (removals.rs).
const LIVE: &str =
    "NOT EXISTS (SELECT 1 FROM instance_removals r WHERE r.instance_id = instances.id)";

impl Store {
    pub async fn create_instance(&self, new: NewInstance) -> Result<InstanceRow> {
        let id = uuid::Uuid::now_v7().simple().to_string();
        let now = now_ms();
        sqlx::query(
            "INSERT INTO instances (id, domain, created_at, quota_bytes, passphrase_hash, \
             onboarding_hash, onboarding_expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&id)
        .bind(&new.domain)
        .bind(now)
        .bind(new.quota_bytes)
        .bind(&new.passphrase_hash)
        .bind(&new.onboarding_hash)
        .bind(new.onboarding_expires_at)
        .execute(self.pool())
        .await
        .map_err(|e| StoreError::unique(e, format!("an instance for {}", new.domain)))?;
        Ok(InstanceRow {
            id: InstanceId::new(id),
            domain: new.domain,
            created_at: now,
            quota_bytes: new.quota_bytes,
            passphrase_hash: new.passphrase_hash,
            onboarding_hash: new.onboarding_hash,
            onboarding_expires_at: new.onboarding_expires_at,
            totp_secret: None,
            totp_enabled: false,
            totp_last_step: 0,
        })
    }

    pub async fn instance_by_domain(&self, domain: &str) -> Result<Option<InstanceRow>> {
        let row = sqlx::query(sql!(
            "SELECT {COLUMNS} FROM instances WHERE domain = $1 AND {LIVE}"
        ))
        .bind(domain)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(from_row).transpose()?)
    }

    pub async fn instance(&self, id: &InstanceId) -> Result<Option<InstanceRow>> {
        let row = sqlx::query(sql!(
            "SELECT {COLUMNS} FROM instances WHERE id = $1 AND {LIVE}"
        ))
        .bind(id.as_str())
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(from_row).transpose()?)
    }

    pub async fn list_instances(&self) -> Result<Vec<InstanceRow>> {
        let rows = sqlx::query(sql!(
            "SELECT {COLUMNS} FROM instances WHERE {LIVE} ORDER BY domain"
        ))
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
    }

    pub async fn count_instances(&self) -> Result<i64> {
        Ok(
            sqlx::query_scalar(sql!("SELECT COUNT(*) FROM instances WHERE {LIVE}"))
                .fetch_one(self.pool())
                .await?,
        )
    }

    /// Sets the owner's passphrase hash and ends onboarding.
    pub async fn set_passphrase_hash(&self, id: &InstanceId, hash: &str) -> Result<()> {
        sqlx::query(
            "UPDATE instances SET passphrase_hash = $2, onboarding_hash = NULL, \
             onboarding_expires_at = NULL WHERE id = $1",
        )
        .bind(id.as_str())
        .bind(hash)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Finishes onboarding once: only succeeds while the onboarding hash is
    /// still the one presented, so two racing submissions can't both win.
    pub async fn complete_onboarding(
        &self,
        id: &InstanceId,
        onboarding_hash: &str,
        passphrase_hash: &str,
    ) -> Result<bool> {
        let n = sqlx::query(
            "UPDATE instances SET passphrase_hash = $3, onboarding_hash = NULL, \
             onboarding_expires_at = NULL WHERE id = $1 AND onboarding_hash = $2 \
             AND passphrase_hash IS NULL",
        )
        .bind(id.as_str())
        .bind(onboarding_hash)
        .bind(passphrase_hash)
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    pub async fn set_onboarding(&self, id: &InstanceId, hash: &str, expires_at: i64) -> Result<()> {
        sqlx::query(
            "UPDATE instances SET onboarding_hash = $2, onboarding_expires_at = $3 WHERE id = $1",
        )
        .bind(id.as_str())
        .bind(hash)
        .bind(expires_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Stores a TOTP secret (pending until `enabled`), or removes it.
    pub async fn set_totp(
        &self,
        id: &InstanceId,
        secret: Option<&str>,
        enabled: bool,
    ) -> Result<()> {
        sqlx::query("UPDATE instances SET totp_secret = $2, totp_enabled = $3 WHERE id = $1")
            .bind(id.as_str())
            .bind(secret)
            .bind(i64::from(enabled))
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Records that the TOTP code of time step `step` was used; false if
    /// that step (or a later one) was already used: a code works once.
    pub async fn claim_totp_step(&self, id: &InstanceId, step: i64) -> Result<bool> {
        let n = sqlx::query(
            "UPDATE instances SET totp_last_step = $2 WHERE id = $1 AND totp_last_step < $2",
        )
        .bind(id.as_str())
        .bind(step)
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok(n == 1)
    }
}
