//! Mango: `_index`, `_find`, `_explain`.

use super::{DataBody, Scope, couch_result, json_body};
use axum::http::StatusCode;
use axum::response::Response;

pub async fn list(s: Scope) -> Response {
    couch_result(StatusCode::OK, async { s.db()?.list_indexes().await }.await)
}

pub async fn create(s: Scope, DataBody(bytes): DataBody) -> Response {
    couch_result(
        StatusCode::OK,
        async { s.db()?.create_index(json_body(&bytes)?).await }.await,
    )
}

pub async fn delete(s: Scope) -> Response {
    let r = async {
        s.db()?
            .delete_index(s.capture("ddoc"), s.capture("name"))
            .await
    }
    .await;
    couch_result(StatusCode::OK, r)
}

pub async fn find(s: Scope, DataBody(bytes): DataBody) -> Response {
    couch_result(
        StatusCode::OK,
        async { s.db()?.find(json_body(&bytes)?).await }.await,
    )
}

pub async fn explain(s: Scope, DataBody(bytes): DataBody) -> Response {
    couch_result(
        StatusCode::OK,
        async { s.db()?.explain(json_body(&bytes)?).await }.await,
    )
}
