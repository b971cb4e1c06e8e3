//! `GET /settings/sessions`, `DELETE /settings/sessions/{id}`.

use crate::error::ApiResult;
use crate::extract::OwnerSession;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

pub async fn list(State(state): State<AppState>, owner: OwnerSession) -> ApiResult<Json<Value>> {
    let rows = state.auth.list_sessions(&owner.instance.id).await?;
    let list: Vec<Value> = rows
        .into_iter()
        .map(|s| {
            json!({
                "id": s.id,
                "created_at": s.created_at,
                "last_seen_at": s.last_seen_at,
                "expires_at": s.expires_at,
                "user_agent": s.user_agent,
                "address": s.address,
                "current": s.id == owner.session_id,
            })
        })
        .collect();
    Ok(Json(Value::Array(list)))
}

pub async fn revoke(
    State(state): State<AppState>,
    owner: OwnerSession,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.auth.revoke_session(&owner.instance.id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
