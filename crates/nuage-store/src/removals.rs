//! Removing an instance in steps that each hold the writer a moment, so a
//! tenant with a million documents costs the others nothing when it goes
//! (nuage-docs `Docs::remove_instance` drives the steps; ARCHITECTURE,
//! "Removing an instance"):
//!
//! 1. [`Store::retire_instance`], one short transaction: records the
//!    removal in `instance_removals`, deletes every credential (no session,
//!    token, app password or OAuth client of it works from then on) and
//!    hides the `instances` row from every lookup, its domain freed.
//! 2. [`Store::purge_removal_step`], until it returns 0: at most
//!    [`PURGE_CHUNK_ROWS`] document rows per transaction, under the writers'
//!    lock taken per chunk (purge.rs, shared with a doctype's deletion), so
//!    other instances' writes interleave; once no
//!    document row is left, the `instances` row goes too.
//! 3. The blobs, by the caller; then [`Store::end_removal`].
//!
//! Must stay true: every step is idempotent and the record goes last, so a
//! removal interrupted anywhere is finished by running the steps again from
//! [`Store::pending_removals`]; steps 2 and 3 touch only an instance whose
//! removal is recorded (the condition is in their SQL), whoever calls them.
//! Cost per tenant: none; the table holds the removals in progress only.

use crate::purge::Purge;
use crate::{InstanceId, Result, Store, now_ms};
use sqlx::Row;

pub use crate::purge::PURGE_CHUNK_ROWS;

/// An instance's credentials: deleted in step 1, all at once, so that the
/// instance is gone to every credential when its removal returns.
pub(crate) const CREDENTIAL_TABLES: &[&str] = &[
    "sessions",
    "recovery_codes",
    "login_throttle",
    "oauth_codes",
    "oauth_used_codes",
    "tokens",
    "oauth_clients",
    "app_passwords",
];

/// An instance's documents, in purge order: index definitions first, so no
/// index build adds entries meanwhile; rows before the doctypes they
/// reference, so deleting a doctype row cascades to nothing.
pub(crate) const DOCUMENT_TABLES: &[&str] = &[
    "doc_indexes",
    "index_entries",
    "local_docs",
    "revs",
    "docs",
    "doctypes",
    "blob_sweeps",
];

/// A removal recorded and not yet finished.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingRemoval {
    pub instance: InstanceId,
    /// The domain the instance had (it may already serve a new instance).
    pub domain: String,
    pub requested_at: i64,
}

/// What the hidden row's domain becomes: no domain (`normalize_domain`
/// refuses `/`, and no `Host` carries one), unique, and telling.
fn retired_domain(id: &InstanceId) -> String {
    format!("removed/{id}")
}

/// `… WHERE` condition true while `$n` names an instance being removed.
fn being_removed(n: usize) -> String {
    format!("EXISTS (SELECT 1 FROM instance_removals WHERE instance_id = ${n})")
}

impl Store {
    /// Step 1: records the removal, deletes the credentials and hides the
    /// instance (lookups by domain or id no longer find it; its domain may
    /// be created again at once, as a new instance). `None` if no instance
    /// has this id, or its removal is already recorded.
    pub async fn retire_instance(&self, id: &InstanceId) -> Result<Option<PendingRemoval>> {
        let mut tx = self.begin_write().await?;
        let domain: Option<String> = sqlx::query_scalar(sql!(
            "SELECT domain FROM instances WHERE id = $1 AND NOT {}",
            being_removed(2)
        ))
        .bind(id.as_str())
        .bind(id.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(domain) = domain else {
            return Ok(None);
        };
        // `domain = $3`: of two removals racing on PostgreSQL, the second
        // waits for the first's commit, then updates nothing.
        let hidden = sqlx::query(
            "UPDATE instances SET domain = $2, passphrase_hash = NULL, onboarding_hash = NULL, \
             onboarding_expires_at = NULL, totp_secret = NULL, totp_enabled = 0 \
             WHERE id = $1 AND domain = $3",
        )
        .bind(id.as_str())
        .bind(retired_domain(id))
        .bind(&domain)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if hidden == 0 {
            return Ok(None);
        }
        let requested_at = now_ms();
        sqlx::query(
            "INSERT INTO instance_removals (instance_id, domain, requested_at) VALUES ($1, $2, $3)",
        )
        .bind(id.as_str())
        .bind(&domain)
        .bind(requested_at)
        .execute(&mut *tx)
        .await?;
        for table in CREDENTIAL_TABLES {
            sqlx::query(sql!("DELETE FROM {table} WHERE instance_id = $1"))
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.removal_wake.notify_one();
        tracing::info!(instance = %id, domain, "instance removal begun");
        Ok(Some(PendingRemoval {
            instance: id.clone(),
            domain,
            requested_at,
        }))
    }

    /// Removals recorded and not finished, oldest first (at most 100).
    pub async fn pending_removals(&self) -> Result<Vec<PendingRemoval>> {
        let rows = sqlx::query(
            "SELECT instance_id, domain, requested_at FROM instance_removals \
             ORDER BY requested_at, instance_id LIMIT 100",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(PendingRemoval {
                    instance: InstanceId::new(r.try_get::<String, _>("instance_id")?),
                    domain: r.try_get("domain")?,
                    requested_at: r.try_get("requested_at")?,
                })
            })
            .collect()
    }

    /// Resolves when a removal was recorded by this process, or
    /// [`Store::wake_remover`] called, since the last time it resolved
    /// (other processes' removals are found by polling
    /// [`Store::pending_removals`] and [`Store::pending_doctype_removals`]).
    pub async fn removal_requested(&self) {
        self.removal_wake.notified().await
    }

    /// Hands purges left unfinished (a doctype deletion whose request went
    /// away) to whoever waits on [`Store::removal_requested`].
    pub fn wake_remover(&self) {
        self.removal_wake.notify_one();
    }

    /// Document rows a removal still has to purge (for progress).
    pub async fn removal_rows_left(&self, id: &InstanceId) -> Result<u64> {
        let mut left = 0;
        for table in DOCUMENT_TABLES {
            let n: i64 =
                sqlx::query_scalar(sql!("SELECT COUNT(*) FROM {table} WHERE instance_id = $1"))
                    .bind(id.as_str())
                    .fetch_one(self.pool())
                    .await?;
            left += n.max(0) as u64;
        }
        Ok(left)
    }

    /// Step 2: deletes at most [`PURGE_CHUNK_ROWS`] document rows of an
    /// instance being removed, in one transaction; returns how many. When
    /// none is left, deletes the `instances` row instead (with whatever a
    /// write in flight at step 1 committed since) and returns 0: call until
    /// then. Does nothing to an instance whose removal is not recorded.
    pub async fn purge_removal_step(&self, id: &InstanceId) -> Result<u64> {
        let n = self
            .purge_chunk(Purge::Instance(id), DOCUMENT_TABLES)
            .await?;
        if n == 0 {
            self.drop_removed_instance(id).await?;
        }
        Ok(n)
    }

    /// The end of step 2. The `instances` row goes first: from then on no
    /// write of the instance can commit (its doctypes and credentials
    /// reference the row), and the cascade takes what such writes added
    /// since the purge passed; the tables that reference nothing (the
    /// index tables, and `docs` and `revs` on PostgreSQL: migration 0011)
    /// are cleared after. All that is bounded by the writes that were in
    /// flight when the removal began.
    async fn drop_removed_instance(&self, id: &InstanceId) -> Result<()> {
        let _guard = self.write_guard().await;
        let mut tx = self.begin_write().await?;
        let removing: Option<String> =
            sqlx::query_scalar("SELECT instance_id FROM instance_removals WHERE instance_id = $1")
                .bind(id.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        if removing.is_none() {
            return Ok(());
        }
        sqlx::query("DELETE FROM instances WHERE id = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        for table in ["docs", "revs", "doc_indexes", "index_entries"] {
            sqlx::query(sql!("DELETE FROM {table} WHERE instance_id = $1"))
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Step 3, once the blobs are gone too: forgets the removal. Does
    /// nothing while the instance's row remains (step 2 is not finished);
    /// true if the record was deleted.
    pub async fn end_removal(&self, id: &InstanceId) -> Result<bool> {
        let n = sqlx::query(
            "DELETE FROM instance_removals WHERE instance_id = $1 \
             AND NOT EXISTS (SELECT 1 FROM instances WHERE id = $2)",
        )
        .bind(id.as_str())
        .bind(id.as_str())
        .execute(self.pool())
        .await?
        .rows_affected();
        if n > 0 {
            tracing::info!(instance = %id, "instance removal finished");
        }
        Ok(n > 0)
    }
}
