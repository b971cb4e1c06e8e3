//! OAuth clients the owner connected: list, revoke.

use crate::error::ApiResult;
use crate::extract::OwnerSession;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

pub async fn list(State(state): State<AppState>, owner: OwnerSession) -> ApiResult<Json<Value>> {
    let rows = state.auth.list_oauth_clients(&owner.instance.id).await?;
    Ok(Json(Value::Array(
        rows.into_iter()
            .map(|c| {
                let uris: Value = serde_json::from_str(&c.redirect_uris).unwrap_or(Value::Null);
                json!({"client_id": c.client_id, "client_name": c.client_name, "redirect_uris": uris,
                       "created_at": c.created_at, "last_used_at": c.last_used_at})
            })
            .collect(),
    )))
}

pub async fn revoke(
    State(state): State<AppState>,
    owner: OwnerSession,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .auth
        .revoke_oauth_client(&owner.instance.id, &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
