//! `_local/` documents: per-replica state such as replication checkpoints.
//! Never replicated, no history; revisions are `0-N`, as CouchDB's.
//!
//! Each belongs to a creator (migration 0006): the key is (instance,
//! doctype, creator, id), so two creators' `_local/x` are two documents,
//! and every call names the creator whose documents it touches. Who is
//! which creator is nuage-docs' rule (`local.rs`).

use crate::{InstanceId, Result, Store, StoreError};
use sqlx::Row;

/// Which `_local` document: `id` of `creator` in `doctype`.
#[derive(Clone, Copy, Debug)]
pub struct LocalKey<'a> {
    pub doctype: &'a str,
    /// `""` for the owner's documents.
    pub creator: &'a str,
    pub id: &'a str,
}

#[derive(Clone, Debug)]
pub struct LocalDoc {
    pub rev: String,
    pub body: String,
}

fn next_rev(prev: Option<&str>) -> String {
    let n = prev
        .and_then(|r| r.strip_prefix("0-"))
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    format!("0-{}", n + 1)
}

impl Store {
    pub async fn local_doc(
        &self,
        inst: &InstanceId,
        key: &LocalKey<'_>,
    ) -> Result<Option<LocalDoc>> {
        if !super::read::storable(key.id) {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT rev, body FROM local_docs WHERE instance_id = $1 AND doctype = $2 AND creator = $3 AND id = $4",
        )
        .bind(inst.as_str())
        .bind(key.doctype)
        .bind(key.creator)
        .bind(key.id)
        .fetch_optional(self.pool())
        .await?;
        Ok(match row {
            Some(r) => Some(LocalDoc {
                rev: r.try_get("rev")?,
                body: r.try_get("body")?,
            }),
            None => None,
        })
    }

    /// Writes a local document if `given_rev` is its current revision
    /// (`None` for a new one); returns the new revision, or `None` on
    /// conflict. A document that does not exist yet is created only while
    /// its creator holds fewer than `create_cap` in the doctype (counted in
    /// the write's transaction, whatever `given_rev` says).
    pub async fn put_local_doc(
        &self,
        inst: &InstanceId,
        key: &LocalKey<'_>,
        given_rev: Option<&str>,
        body: &str,
        create_cap: i64,
    ) -> Result<Option<String>> {
        let doctype = key.doctype;
        let _guard = self.write_guard().await;
        // A checkpoint may be lost in a power cut, never data.
        let mut tx = self.begin_write_relaxed().await?;
        let locked = super::doctypes::lock_doctype_on(&mut tx, inst, doctype).await?;
        let old: Option<(String, String)> = sqlx::query_as(
            "SELECT rev, body FROM local_docs WHERE instance_id = $1 AND doctype = $2 AND creator = $3 AND id = $4",
        )
        .bind(inst.as_str())
        .bind(doctype)
        .bind(key.creator)
        .bind(key.id)
        .fetch_optional(&mut *tx)
        .await?;
        let current = old.as_ref().map(|(rev, _)| rev.as_str());
        if current.is_some() && current != given_rev {
            return Ok(None);
        }
        if current.is_none() {
            let held: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM local_docs WHERE instance_id = $1 AND doctype = $2 AND creator = $3",
            )
            .bind(inst.as_str())
            .bind(doctype)
            .bind(key.creator)
            .fetch_one(&mut *tx)
            .await?;
            if held >= create_cap {
                return Err(StoreError::LocalFull {
                    held,
                    cap: create_cap,
                });
            }
        }
        let old_size = old.as_ref().map_or(0, |(_, b)| b.len() as i64);
        let delta = body.len() as i64 - old_size;
        super::usage::check_quota(&mut tx, inst, locked.quota, delta).await?;
        sqlx::query(
            "UPDATE doctypes SET bytes = bytes + $3 WHERE instance_id = $1 AND doctype = $2",
        )
        .bind(inst.as_str())
        .bind(doctype)
        .bind(delta)
        .execute(&mut *tx)
        .await?;
        let rev = next_rev(current);
        sqlx::query(
            "INSERT INTO local_docs (instance_id, doctype, creator, id, rev, body) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (instance_id, doctype, creator, id) DO UPDATE SET rev = excluded.rev, body = excluded.body",
        )
        .bind(inst.as_str())
        .bind(doctype)
        .bind(key.creator)
        .bind(key.id)
        .bind(&rev)
        .bind(body)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(rev))
    }

    /// Deletes a local document if `given_rev` is current; false otherwise.
    pub async fn delete_local_doc(
        &self,
        inst: &InstanceId,
        key: &LocalKey<'_>,
        given_rev: &str,
    ) -> Result<bool> {
        let doctype = key.doctype;
        let _guard = self.write_guard().await;
        // A checkpoint may be lost in a power cut, never data.
        let mut tx = self.begin_write_relaxed().await?;
        let body: Option<String> = sqlx::query_scalar(
            "DELETE FROM local_docs WHERE instance_id = $1 AND doctype = $2 AND creator = $3 AND id = $4 \
             AND rev = $5 RETURNING body",
        )
        .bind(inst.as_str())
        .bind(doctype)
        .bind(key.creator)
        .bind(key.id)
        .bind(given_rev)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(body) = body else {
            return Ok(false);
        };
        // A doctype being deleted counts nothing already (removal.rs).
        sqlx::query(
            "UPDATE doctypes SET bytes = bytes - $3 WHERE instance_id = $1 AND doctype = $2 \
             AND removal_requested_at IS NULL",
        )
        .bind(inst.as_str())
        .bind(doctype)
        .bind(body.len() as i64)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn local_revisions_count_up() {
        assert_eq!(super::next_rev(None), "0-1");
        assert_eq!(super::next_rev(Some("0-41")), "0-42");
    }
}
