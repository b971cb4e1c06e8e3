//! `GET /status`: answers on any host, checks the store.

use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

pub async fn status(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let version = env!("CARGO_PKG_VERSION");
    match state.store.ping().await {
        Ok(()) => (
            StatusCode::OK,
            Json(json!({"status": "ok", "store": "ok", "version": version})),
        ),
        Err(e) => {
            tracing::error!(error = %e, "status: store check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(
                    json!({"status": "degraded", "store": "unreachable", "version": version,
                    "message": "the database does not answer; check that it runs and that nuage can reach it"}),
                ),
            )
        }
    }
}
