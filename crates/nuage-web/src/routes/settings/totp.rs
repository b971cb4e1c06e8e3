//! Two-factor login: enrol, confirm (recovery codes), turn off.

use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, OwnerSession};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use nuage_auth::TotpEnrolment;
use nuage_store::InstanceRow;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
pub struct Code {
    code: String,
}

async fn row(state: &AppState, owner: &OwnerSession) -> ApiResult<InstanceRow> {
    state
        .store
        .instance(&owner.instance.id)
        .await?
        .ok_or_else(|| ApiError::UnknownInstance(owner.instance.domain.clone()))
}

pub async fn begin(
    State(state): State<AppState>,
    owner: OwnerSession,
) -> ApiResult<Json<TotpEnrolment>> {
    let row = row(&state, &owner).await?;
    Ok(Json(state.auth.begin_totp(&row).await?))
}

pub async fn confirm(
    State(state): State<AppState>,
    owner: OwnerSession,
    JsonBody(body): JsonBody<Code>,
) -> ApiResult<Json<Value>> {
    let row = row(&state, &owner).await?;
    let codes = state.auth.confirm_totp(&row, &body.code).await?;
    state.instances.forget(&row.id);
    tracing::info!(instance = %row.id, "two-factor login turned on");
    Ok(Json(json!({"recovery_codes": codes})))
}

pub async fn disable(
    State(state): State<AppState>,
    owner: OwnerSession,
    addr: crate::extract::ClientAddr,
    JsonBody(body): JsonBody<Code>,
) -> ApiResult<StatusCode> {
    let row = row(&state, &owner).await?;
    state.auth.disable_totp(&row, &body.code, &addr.0).await?;
    state.instances.forget(&row.id);
    tracing::info!(instance = %row.id, "two-factor login turned off");
    Ok(StatusCode::NO_CONTENT)
}
