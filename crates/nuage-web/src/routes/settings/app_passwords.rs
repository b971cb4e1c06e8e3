//! App passwords: list, create (shown once), revoke.

use crate::error::ApiResult;
use crate::extract::{JsonBody, OwnerSession};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use nuage_auth::NewAppPassword;
use serde::Deserialize;
use serde_json::{Value, json};

pub async fn list(State(state): State<AppState>, owner: OwnerSession) -> ApiResult<Json<Value>> {
    let rows = state.auth.list_app_passwords(&owner.instance.id).await?;
    Ok(Json(Value::Array(
        rows.into_iter()
            .map(|p| {
                json!({"id": p.id, "name": p.name, "scope": p.scope,
                       "created_at": p.created_at, "last_used_at": p.last_used_at})
            })
            .collect(),
    )))
}

#[derive(Deserialize)]
pub struct Create {
    name: String,
    scope: String,
}

pub async fn create(
    State(state): State<AppState>,
    owner: OwnerSession,
    JsonBody(body): JsonBody<Create>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (row, password) = state
        .auth
        .create_app_password(
            &owner.instance.id,
            &NewAppPassword {
                name: body.name,
                scope: body.scope,
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": row.id, "name": row.name, "scope": row.scope,
                    "password": password, "created_at": row.created_at})),
    ))
}

pub async fn revoke(
    State(state): State<AppState>,
    owner: OwnerSession,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .auth
        .revoke_app_password(&owner.instance.id, &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
