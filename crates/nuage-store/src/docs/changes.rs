//! The changes feed: documents in the order of their last change. Read in
//! pages, so a feed over any number of documents streams in constant memory.

use crate::{InstanceId, Result, Store};
use nuage_core::revs::Rev;
use sqlx::Row;

#[derive(Clone, Debug)]
pub struct ChangeRow {
    pub seq: i64,
    pub id: String,
    pub rev: Rev,
    pub deleted: bool,
    /// The winner's body, when asked for.
    pub body: Option<String>,
    /// With the body: a deleted winner's `gone_fields` (see `DocHead`).
    pub gone_fields: Option<String>,
}

impl ChangeRow {
    /// The body a permission judges this change by (see
    /// `DocHead::judged_body`), when bodies were asked for.
    pub fn judged_body(&self) -> Option<&str> {
        let body = self.body.as_deref()?;
        Some(super::read::judged_body(
            self.deleted,
            body,
            self.gone_fields.as_deref(),
        ))
    }
}

impl Store {
    /// Up to `limit` changes after `since` (before it when `descending`).
    pub async fn changes(
        &self,
        inst: &InstanceId,
        doctype: &str,
        since: i64,
        limit: i64,
        descending: bool,
        with_bodies: bool,
    ) -> Result<Vec<ChangeRow>> {
        let body_col = if with_bodies {
            ", body, gone_fields"
        } else {
            ""
        };
        let (op, order) = if descending {
            ("<", "DESC")
        } else {
            (">", "ASC")
        };
        let rows = sqlx::query(sql!(
            "SELECT seq, id, rev, deleted{body_col} FROM docs WHERE instance_id = $1 AND doctype = $2 \
             AND seq {op} $3 ORDER BY seq {order} LIMIT $4"
        ))
        .bind(inst.as_str())
        .bind(doctype)
        .bind(since)
        .bind(limit.max(0))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let rev: String = r.try_get("rev")?;
                Ok(ChangeRow {
                    seq: r.try_get("seq")?,
                    id: r.try_get("id")?,
                    rev: Rev::parse(&rev).ok_or_else(|| {
                        sqlx::Error::Decode(format!("bad stored rev {rev}").into())
                    })?,
                    deleted: r.try_get::<i64, _>("deleted")? != 0,
                    body: if with_bodies {
                        Some(r.try_get("body")?)
                    } else {
                        None
                    },
                    gone_fields: if with_bodies {
                        r.try_get("gone_fields")?
                    } else {
                        None
                    },
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    /// How many documents changed after `since` (CouchDB's `pending`).
    pub async fn count_changes_after(
        &self,
        inst: &InstanceId,
        doctype: &str,
        since: i64,
    ) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM docs WHERE instance_id = $1 AND doctype = $2 AND seq > $3",
        )
        .bind(inst.as_str())
        .bind(doctype)
        .bind(since)
        .fetch_one(self.pool())
        .await?)
    }
}
