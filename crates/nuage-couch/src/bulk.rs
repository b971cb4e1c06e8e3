//! `_bulk_docs`, `_bulk_get`, `_revs_diff`, `_ensure_full_commit`.

use super::{DataBody, Scope, batch, couch_result};
use axum::http::StatusCode;
use axum::response::Response;
use nuage_core::revs::Rev;
use nuage_docs::BulkGetItem;
use nuage_docs::DocError;
use serde_json::{Value, json};

pub async fn bulk_docs(s: Scope, DataBody(bytes): DataBody) -> Response {
    let r = async {
        let db = s.db()?;
        db.ensure_may_write()?;
        let (docs, new_edits) = batch::bulk_docs(&bytes, nuage_docs::MAX_BULK_DOCS)?;
        // With `new_edits: false` CouchDB lists only failures.
        let rows = db.bulk_docs(docs, new_edits).await?;
        Ok(Value::Array(
            rows.into_iter()
                .filter(|r| new_edits || r.is_err())
                .map(super::wire::write_row)
                .collect(),
        ))
    }
    .await;
    couch_result(StatusCode::CREATED, r)
}

pub async fn bulk_get(s: Scope, DataBody(bytes): DataBody) -> Response {
    let r = async {
        let db = s.db()?;
        let p = &s.query;
        let docs = batch::bulk_get(&bytes, nuage_docs::MAX_BULK_GET)?;
        let items = docs
            .iter()
            .map(|d| {
                let id = d
                    .get("id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| DocError::bad_request("every entry of docs needs an id"))?;
                let rev = match d.get("rev").and_then(Value::as_str) {
                    Some(r) => Some(
                        Rev::parse(r).ok_or_else(|| DocError::bad_request("Invalid rev format"))?,
                    ),
                    None => None,
                };
                let atts_since = d
                    .get("atts_since")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().and_then(Rev::parse))
                            .collect()
                    })
                    .unwrap_or_default();
                Ok(BulkGetItem {
                    id: id.to_owned(),
                    rev,
                    atts_since,
                })
            })
            .collect::<Result<Vec<_>, DocError>>()?;
        let meta = p.meta()?;
        db.bulk_get(items, &meta, p.flag("latest")?).await
    }
    .await;
    couch_result(StatusCode::OK, r)
}

pub async fn revs_diff(s: Scope, DataBody(bytes): DataBody) -> Response {
    let r = async {
        let db = s.db()?;
        db.revs_diff(batch::revs_diff(&bytes, nuage_docs::MAX_REVS_DIFF)?)
            .await
    }
    .await;
    couch_result(StatusCode::OK, r)
}

/// `_ensure_full_commit`: every acknowledged write is already durable.
pub async fn ensure_full_commit(s: Scope) -> Response {
    let r = s
        .db()
        .map(|_| json!({"ok": true, "instance_start_time": "0"}));
    couch_result(StatusCode::CREATED, r)
}
