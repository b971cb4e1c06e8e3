//! The admin API: instances and metrics, on a separate loopback listener,
//! behind a bearer secret. A provider scripts it; a person uses the CLI.

use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use crate::state::AppState;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use nuage_store::InstanceRow;
use serde::Deserialize;
use serde_json::{Value, json};

pub fn admin_router(state: AppState) -> Router {
    Router::new()
        .route("/instances", get(list).post(create))
        .route("/instances/{domain}", get(show).delete(remove))
        .route("/metrics", get(metrics))
        .fallback(|| async {
            ApiError::NotFound("no such admin route: use /instances or /metrics".into())
        })
        .layer(from_fn_with_state(state.clone(), require_secret))
        .with_state(state)
}

async fn require_secret(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if state.config.admin_secret.is_empty()
        || !nuage_auth::secret::equal(given, &state.config.admin_secret)
    {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer realm=\"nuage-admin\"")],
            Json(json!({"error": "unauthenticated",
                "message": "send the admin secret as `Authorization: Bearer SECRET`; it is in NUAGE_ADMIN_SECRET or the data folder's admin-secret file"})),
        )
            .into_response();
    }
    next.run(req).await
}

pub fn instance_json(row: &InstanceRow) -> Value {
    json!({
        "id": row.id.as_str(),
        "domain": row.domain,
        "created_at": row.created_at,
        "quota_bytes": row.quota_bytes,
        "onboarded": row.onboarded(),
        "totp_enabled": row.totp_enabled,
    })
}

async fn list(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let rows = state.store.list_instances().await?;
    Ok(Json(Value::Array(rows.iter().map(instance_json).collect())))
}

async fn find(state: &AppState, domain: &str) -> ApiResult<InstanceRow> {
    state
        .store
        .instance_by_domain(&domain.to_ascii_lowercase())
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "no instance {domain}; list them with GET /instances"
            ))
        })
}

async fn show(State(state): State<AppState>, Path(domain): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(instance_json(&find(&state, &domain).await?)))
}

#[derive(Deserialize)]
struct Create {
    domain: String,
    quota_bytes: Option<i64>,
}

async fn create(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<Create>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (row, token) = state
        .auth
        .create_instance(&body.domain, body.quota_bytes, None)
        .await?;
    let mut v = instance_json(&row);
    if let Some(t) = token {
        v["onboarding_url"] = json!(format!(
            "{}/auth/onboarding?token={t}",
            state.base_url(&row.domain)
        ));
    }
    Ok((StatusCode::CREATED, Json(v)))
}

/// 204 once the instance is gone to the world; its data is purged in the
/// background, a chunk at a time (docs/http-api.md).
async fn remove(
    State(state): State<AppState>,
    Path(domain): Path<String>,
) -> ApiResult<StatusCode> {
    let row = find(&state, &domain).await?;
    if !state.remove_instance(&row.id).await? {
        // Removed by someone else since `find`.
        return Err(ApiError::NotFound(format!("no instance {domain}")));
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn metrics(State(state): State<AppState>) -> Response {
    match &state.metrics {
        Some(h) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            h.render(),
        )
            .into_response(),
        None => {
            ApiError::Unavailable("metrics are not recorded in this process".into()).into_response()
        }
    }
}
