//! The doctype as a database: info, create, delete; the list of doctypes.

use super::{Caller, couch_error, couch_result, json_response};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

/// `GET /data/`: CouchDB's welcome. The `uuid` is the instance's, stable:
/// PouchDB names its replication checkpoints with it, so they survive a
/// change of host or port.
pub async fn welcome(Caller(c): Caller) -> Response {
    json_response(
        StatusCode::OK,
        &json!({
            "couchdb": "Welcome",
            "version": "3.3.3",
            "uuid": c.instance.id.as_str(),
            "vendor": {"name": "nuage", "version": env!("CARGO_PKG_VERSION")},
            "features": ["access-ready"],
        }),
    )
}

pub async fn all_doctypes(State(state): State<AppState>, Caller(c): Caller) -> Response {
    match state.couch.all_doctypes(&c.instance.id, &c.access).await {
        Ok(list) => json_response(StatusCode::OK, &json!(list)),
        Err(e) => couch_error(&e),
    }
}

pub async fn info(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(doctype): Path<String>,
) -> Response {
    let r = match state.couch.db(&c.instance.id, &c.access, &doctype) {
        Ok(db) => db.info().await,
        Err(e) => Err(e),
    };
    couch_result(StatusCode::OK, r)
}

pub async fn create(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(doctype): Path<String>,
) -> Response {
    let r = match state.couch.db(&c.instance.id, &c.access, &doctype) {
        Ok(db) => db.create().await.map(|()| json!({"ok": true})),
        Err(e) => Err(e),
    };
    couch_result(StatusCode::CREATED, r)
}

pub async fn delete(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(doctype): Path<String>,
) -> Response {
    let r = match state.couch.db(&c.instance.id, &c.access, &doctype) {
        Ok(db) => db.delete().await.map(|()| json!({"ok": true})),
        Err(e) => Err(e),
    };
    couch_result(StatusCode::OK, r)
}

pub async fn revs_limit(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(doctype): Path<String>,
) -> Response {
    let r = async {
        state
            .couch
            .db(&c.instance.id, &c.access, &doctype)?
            .revs_limit()
            .await
    }
    .await;
    couch_result(StatusCode::OK, r.map(|n| json!(n)))
}

pub async fn set_revs_limit(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(doctype): Path<String>,
    bytes: axum::body::Bytes,
) -> Response {
    let r = async {
        let db = state.couch.db(&c.instance.id, &c.access, &doctype)?;
        let limit = super::json_body(&bytes)?.as_i64().ok_or_else(|| {
            nuage_couch::CouchError::bad_request("the body must be a number, such as 1000")
        })?;
        db.set_revs_limit(limit).await.map(|()| json!({"ok": true}))
    }
    .await;
    couch_result(StatusCode::OK, r)
}
