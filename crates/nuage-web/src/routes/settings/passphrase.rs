//! `PUT /settings/passphrase`: change it; every other session ends.

use crate::error::{ApiError, ApiResult};
use crate::extract::{ClientAddr, JsonBody, OwnerSession};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
pub struct Change {
    current: String,
    new: String,
}

pub async fn change(
    State(state): State<AppState>,
    owner: OwnerSession,
    addr: ClientAddr,
    JsonBody(body): JsonBody<Change>,
) -> ApiResult<Json<Value>> {
    let row = state
        .store
        .instance(&owner.instance.id)
        .await?
        .ok_or_else(|| ApiError::UnknownInstance(owner.instance.domain.clone()))?;
    let revoked = state
        .auth
        .change_passphrase(&row, &body.current, &body.new, &owner.session_id, &addr.0)
        .await?;
    tracing::info!(instance = %row.id, revoked, "passphrase changed");
    Ok(Json(json!({"revoked_sessions": revoked})))
}
