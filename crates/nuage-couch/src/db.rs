//! The doctype as a database: info, create, delete, revs limit; the list
//! of doctypes.

use super::{Authenticated, DataBody, Scope, couch_error, couch_result, json_body, json_response};
use crate::CouchState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use nuage_docs::DocError;
use serde_json::json;

/// `GET /data/`: CouchDB's welcome. The `uuid` is the instance's, stable:
/// PouchDB names its replication checkpoints with it, so they survive a
/// change of host or port.
pub async fn welcome(Authenticated(c): Authenticated) -> Response {
    json_response(
        StatusCode::OK,
        &json!({
            "couchdb": "Welcome",
            "version": "3.3.3",
            "uuid": c.instance.as_str(),
            "vendor": {"name": "nuage", "version": env!("CARGO_PKG_VERSION")},
            "features": ["access-ready"],
        }),
    )
}

pub async fn all_doctypes(
    State(state): State<CouchState>,
    Authenticated(c): Authenticated,
) -> Response {
    match state.docs.all_doctypes(&c.instance, &c.access).await {
        Ok(list) => json_response(StatusCode::OK, &json!(list)),
        Err(e) => couch_error(&e),
    }
}

pub async fn info(s: Scope) -> Response {
    couch_result(StatusCode::OK, async { s.db()?.info().await }.await)
}

pub async fn create(s: Scope) -> Response {
    let r = async { s.db()?.create().await }.await;
    couch_result(StatusCode::CREATED, r.map(|()| json!({"ok": true})))
}

pub async fn delete(s: Scope) -> Response {
    let r = async { s.db()?.delete().await }.await;
    couch_result(StatusCode::OK, r.map(|()| json!({"ok": true})))
}

pub async fn revs_limit(s: Scope) -> Response {
    couch_result(
        StatusCode::OK,
        async { s.db()?.revs_limit().await }.await.map(|n| json!(n)),
    )
}

pub async fn set_revs_limit(s: Scope, DataBody(bytes): DataBody) -> Response {
    let r = async {
        let limit = json_body(&bytes)?
            .as_i64()
            .ok_or_else(|| DocError::bad_request("the body must be a number, such as 1000"))?;
        s.db()?.set_revs_limit(limit).await
    }
    .await;
    couch_result(StatusCode::OK, r.map(|()| json!({"ok": true})))
}

/// `POST /{doctype}/_compact`: CouchDB rewrites a database file to drop
/// the bodies of revisions that are no longer leaves; nuage's store drops
/// them as each write replaces its leaf (nuage-store `docs/write.rs`,
/// `prune_bodies`), so a doctype is always compact. Answered as CouchDB
/// answers a compaction it started (202), to a caller who may change the
/// whole doctype.
pub async fn compact(s: Scope) -> Response {
    couch_result(
        StatusCode::ACCEPTED,
        async { s.db()?.compact().await }
            .await
            .map(|()| json!({"ok": true})),
    )
}
