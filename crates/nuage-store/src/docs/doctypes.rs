//! Doctypes: each instance's databases, with their sequence and counters.
//!
//! Must stay true: a doctype being deleted (its row flagged, removal.rs)
//! is missing to every lookup here and refuses every write that locks or
//! creates its row, until the purge deletes the row.

use crate::{InstanceId, Result, Store, StoreError, now_ms};
use sqlx::Row;

/// Doctypes one instance may hold at most. A doctype's row costs disk that
/// no quota counts (an empty one holds 0 bytes), and every write of an
/// instance with a quota sums its doctypes' bytes under the writers' lock:
/// without a bound, a credential that may only read (its `_local`
/// checkpoints create the doctype they name) could create millions, filling
/// the disk past the quota and making each of the instance's writes hold
/// every tenant's writes for a scan of them.
pub const MAX_DOCTYPES: i64 = 1_000;

/// Refuses a doctype row just created if the instance now holds more than
/// [`MAX_DOCTYPES`] (inside the creating transaction, which the refusal
/// rolls back; concurrent creations may overshoot by their number).
async fn refuse_past_cap(conn: &mut sqlx::AnyConnection, inst: &InstanceId) -> Result<()> {
    let held: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM doctypes WHERE instance_id = $1")
        .bind(inst.as_str())
        .fetch_one(&mut *conn)
        .await?;
    if held > MAX_DOCTYPES {
        return Err(StoreError::TooManyDoctypes { cap: MAX_DOCTYPES });
    }
    Ok(())
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DoctypeInfo {
    pub update_seq: i64,
    pub doc_count: i64,
    pub doc_del_count: i64,
    pub revs_limit: i64,
    pub created_at: i64,
}

impl Store {
    pub async fn doctype_info(
        &self,
        inst: &InstanceId,
        doctype: &str,
    ) -> Result<Option<DoctypeInfo>> {
        let row = sqlx::query(
            "SELECT update_seq, doc_count, doc_del_count, revs_limit, created_at FROM doctypes \
             WHERE instance_id = $1 AND doctype = $2 AND removal_requested_at IS NULL",
        )
        .bind(inst.as_str())
        .bind(doctype)
        .fetch_optional(self.pool())
        .await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(DoctypeInfo {
            update_seq: r.try_get("update_seq")?,
            doc_count: r.try_get("doc_count")?,
            doc_del_count: r.try_get("doc_del_count")?,
            revs_limit: r.try_get("revs_limit")?,
            created_at: r.try_get("created_at")?,
        }))
    }

    /// Creates the doctype if it does not exist; true if it was created.
    /// Refused while a doctype of that name is being deleted.
    pub async fn ensure_doctype(&self, inst: &InstanceId, doctype: &str) -> Result<bool> {
        // One transaction: a row past the instance's cap is rolled back, so
        // no write can find it committed in the meantime (and have its
        // documents lose their doctype when the row went again).
        let _guard = self.write_guard().await;
        let mut tx = self.begin_write().await?;
        let created = ensure_doctype_on(&mut tx, inst, doctype).await?;
        tx.commit().await?;
        Ok(created)
    }

    pub async fn list_doctypes(&self, inst: &InstanceId) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT doctype FROM doctypes WHERE instance_id = $1 \
                 AND removal_requested_at IS NULL ORDER BY doctype",
        )
        .bind(inst.as_str())
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|r| r.try_get::<String, _>("doctype"))
            .collect::<Result<_, _>>()?)
    }

    pub async fn set_revs_limit(
        &self,
        inst: &InstanceId,
        doctype: &str,
        limit: i64,
    ) -> Result<bool> {
        let n = sqlx::query(
            "UPDATE doctypes SET revs_limit = $3 WHERE instance_id = $1 AND doctype = $2",
        )
        .bind(inst.as_str())
        .bind(doctype)
        .bind(limit)
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// Deletes a doctype with every document, revision, local document and
    /// index entry, every step of removal.rs here, to the end; false if it
    /// did not exist (or its deletion had begun elsewhere).
    pub async fn delete_doctype(&self, inst: &InstanceId, doctype: &str) -> Result<bool> {
        if !self.retire_doctype(inst, doctype).await? {
            return Ok(false);
        }
        while self.purge_doctype_step(inst, doctype).await? > 0 {}
        Ok(true)
    }

    /// Serialises document writes on SQLite (see `Store::write_lock`).
    pub(crate) async fn write_guard(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match self.engine() {
            crate::Engine::Sqlite => Some(self.write_lock.lock().await),
            crate::Engine::Postgres => None,
        }
    }
}

/// What a write transaction reads before anything else.
pub(crate) struct LockedDoctype {
    pub update_seq: i64,
    pub revs_limit: i64,
    pub index_count: i64,
    /// The instance's quota, if it has one.
    pub quota: Option<i64>,
}

/// The first statement of a write transaction, in one round trip: creates
/// the doctype row if missing, locks it (writers of one doctype take
/// sequence numbers one transaction at a time: on PostgreSQL `ON CONFLICT
/// DO UPDATE` locks the row as `FOR UPDATE` would; SQLite has one writer
/// anyway), and reads what the write needs, the instance's quota included.
/// Refuses a doctype being deleted: on PostgreSQL the flag is read from the
/// row as locked, so a write waiting for the lock when the deletion began
/// sees it.
pub(crate) async fn lock_doctype_on(
    conn: &mut sqlx::AnyConnection,
    inst: &InstanceId,
    doctype: &str,
) -> Result<LockedDoctype> {
    use sqlx::Row;
    let now = now_ms();
    let r = sqlx::query(
        "INSERT INTO doctypes (instance_id, doctype, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (instance_id, doctype) DO UPDATE SET update_seq = doctypes.update_seq \
         RETURNING update_seq, revs_limit, index_count, removal_requested_at, created_at, \
         (SELECT quota_bytes FROM instances WHERE id = $1) AS quota_bytes",
    )
    .bind(inst.as_str())
    .bind(doctype)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    if r.try_get::<Option<i64>, _>("removal_requested_at")?
        .is_some()
    {
        return Err(super::removal::being_removed(doctype));
    }
    // Created by this statement (or, at worst, in the same millisecond by
    // another: then counted once more, harmlessly).
    if r.try_get::<i64, _>("created_at")? == now {
        refuse_past_cap(conn, inst).await?;
    }
    Ok(LockedDoctype {
        update_seq: r.try_get("update_seq")?,
        revs_limit: r.try_get("revs_limit")?,
        index_count: r.try_get("index_count")?,
        quota: r.try_get("quota_bytes")?,
    })
}

/// Creates the doctype row if missing, inside the caller's transaction
/// (rolled back when the instance is past its cap); true if it was created.
pub(crate) async fn ensure_doctype_on(
    conn: &mut sqlx::AnyConnection,
    inst: &InstanceId,
    doctype: &str,
) -> Result<bool> {
    let n = sqlx::query(
        "INSERT INTO doctypes (instance_id, doctype, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (instance_id, doctype) DO NOTHING",
    )
    .bind(inst.as_str())
    .bind(doctype)
    .bind(now_ms())
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if n == 0 {
        let removing: Option<i64> = sqlx::query_scalar(
            "SELECT removal_requested_at FROM doctypes WHERE instance_id = $1 AND doctype = $2",
        )
        .bind(inst.as_str())
        .bind(doctype)
        .fetch_optional(&mut *conn)
        .await?
        .flatten();
        if removing.is_some() {
            return Err(super::removal::being_removed(doctype));
        }
    } else {
        // Past the cap, the caller's transaction rolls the row back.
        refuse_past_cap(conn, inst).await?;
    }
    Ok(n == 1)
}
