//! Mango: `_index`, `_find`, `_explain`.

use super::{Caller, couch_result, json_body};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;

pub async fn list(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(doctype): Path<String>,
) -> Response {
    let r = async {
        state
            .couch
            .db(&c.instance.id, &c.access, &doctype)?
            .list_indexes()
            .await
    }
    .await;
    couch_result(StatusCode::OK, r)
}

pub async fn create(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(doctype): Path<String>,
    bytes: Bytes,
) -> Response {
    let r = async {
        let db = state.couch.db(&c.instance.id, &c.access, &doctype)?;
        db.create_index(json_body(&bytes)?).await
    }
    .await;
    couch_result(StatusCode::OK, r)
}

pub async fn delete(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path((doctype, ddoc, name)): Path<(String, String, String)>,
) -> Response {
    let r = async {
        state
            .couch
            .db(&c.instance.id, &c.access, &doctype)?
            .delete_index(&ddoc, &name)
            .await
    }
    .await;
    couch_result(StatusCode::OK, r)
}

pub async fn find(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(doctype): Path<String>,
    bytes: Bytes,
) -> Response {
    let r = async {
        let db = state.couch.db(&c.instance.id, &c.access, &doctype)?;
        db.find(json_body(&bytes)?).await
    }
    .await;
    couch_result(StatusCode::OK, r)
}

pub async fn explain(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(doctype): Path<String>,
    bytes: Bytes,
) -> Response {
    let r = async {
        let db = state.couch.db(&c.instance.id, &c.access, &doctype)?;
        db.explain(json_body(&bytes)?).await
    }
    .await;
    couch_result(StatusCode::OK, r)
}
