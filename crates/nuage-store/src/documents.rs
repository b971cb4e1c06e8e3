//! Documents, one current revision each. Writes are conditional on the
//! revision the writer last saw, so a stale write never overwrites a newer
//! one (optimistic concurrency, as CouchDB does).

use crate::{InstanceId, Result, Store, now_ms};
use sqlx::Row;

#[derive(Clone, Debug)]
pub struct DocRow {
    pub rev: String,
    /// The JSON body, without `_id` and `_rev`.
    pub body: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PutOutcome {
    Written,
    /// The document changed (or appeared) since the revision given.
    Conflict,
}

impl Store {
    pub async fn document(
        &self,
        inst: &InstanceId,
        doctype: &str,
        id: &str,
    ) -> Result<Option<DocRow>> {
        let row = sqlx::query(
            "SELECT rev, body FROM documents WHERE instance_id = $1 AND doctype = $2 AND id = $3",
        )
        .bind(inst.as_str())
        .bind(doctype)
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row
            .map(|r| -> Result<DocRow, sqlx::Error> {
                Ok(DocRow {
                    rev: r.try_get("rev")?,
                    body: r.try_get("body")?,
                })
            })
            .transpose()?)
    }

    /// Writes revision `new_rev`; `prev_rev` must be the current revision
    /// (`None`: the document must not exist yet).
    pub async fn put_document(
        &self,
        inst: &InstanceId,
        doctype: &str,
        id: &str,
        prev_rev: Option<&str>,
        new_rev: &str,
        body: &str,
    ) -> Result<PutOutcome> {
        let now = now_ms();
        let result = match prev_rev {
            Some(prev) => {
                sqlx::query(
                    "UPDATE documents SET rev = $5, body = $6, updated_at = $7 \
                     WHERE instance_id = $1 AND doctype = $2 AND id = $3 AND rev = $4",
                )
                .bind(inst.as_str())
                .bind(doctype)
                .bind(id)
                .bind(prev)
                .bind(new_rev)
                .bind(body)
                .bind(now)
                .execute(self.pool())
                .await
            }
            None => {
                sqlx::query(
                    "INSERT INTO documents (instance_id, doctype, id, rev, body, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                )
                .bind(inst.as_str())
                .bind(doctype)
                .bind(id)
                .bind(new_rev)
                .bind(body)
                .bind(now)
                .execute(self.pool())
                .await
            }
        }?;
        Ok(if result.rows_affected() == 1 {
            PutOutcome::Written
        } else {
            PutOutcome::Conflict
        })
    }
}
