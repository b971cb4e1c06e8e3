//! `GET /settings/instance`.

use super::SETTINGS_DOCTYPE;
use crate::error::ApiResult;
use crate::extract::Authed;
use axum::Json;
use nuage_core::{Target, Verb};
use serde_json::{Value, json};

pub async fn show(authed: Authed) -> ApiResult<Json<Value>> {
    authed
        .access
        .check(SETTINGS_DOCTYPE, Verb::Get, Target::Doctype)
        .map_err(nuage_auth::AuthError::from)?;
    let i = &authed.instance;
    Ok(Json(json!({
        "domain": i.domain,
        "created_at": i.created_at,
        "quota_bytes": i.quota_bytes,
        "totp_enabled": i.totp_enabled,
    })))
}
