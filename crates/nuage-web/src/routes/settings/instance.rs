//! `GET /settings/instance`.

use super::SETTINGS_DOCTYPE;
use crate::error::{ApiError, ApiResult};
use crate::extract::Authed;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use nuage_core::{Target, Verb};
use serde_json::{Value, json};

pub async fn show(State(state): State<AppState>, authed: Authed) -> ApiResult<Json<Value>> {
    authed
        .access
        .check(SETTINGS_DOCTYPE, Verb::Get, Target::Doctype)
        .map_err(nuage_auth::AuthError::from)?;
    let row = state
        .store
        .instance(&authed.instance.id)
        .await?
        .ok_or_else(|| ApiError::UnknownInstance(authed.instance.domain.clone()))?;
    Ok(Json(json!({
        "domain": row.domain,
        "created_at": row.created_at,
        "quota_bytes": row.quota_bytes,
        "totp_enabled": row.totp_enabled,
    })))
}
