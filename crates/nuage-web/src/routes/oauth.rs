//! OAuth 2 endpoints. Errors here follow RFC 6749 §5.2
//! (`{"error","error_description"}`), not nuage's own JSON shape, because
//! OAuth client libraries parse them.

use super::{see_other, with_cookies};
use crate::csrf;
use crate::error::ApiError;
use crate::extract::{FormBody, FormSession, Instance, JsonBody};
use crate::pages::{consent_page, message_page};
use crate::state::AppState;
use axum::Json;
use axum::extract::{OriginalUri, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine as _;
use nuage_auth::OAuthError;
use nuage_auth::oauth::{AuthorizeError, AuthorizeParams, ClientMetadata, TokenParams};
use serde::Deserialize;
use serde_json::json;

fn oauth_error(status: StatusCode, e: &OAuthError) -> Response {
    let mut resp = (
        status,
        Json(json!({"error": e.code, "error_description": e.description})),
    )
        .into_response();
    no_store(&mut resp);
    if status == StatusCode::UNAUTHORIZED {
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"nuage\""),
        );
    }
    resp
}

/// RFC 6749 §5.1: token responses must not be cached.
fn no_store(resp: &mut Response) {
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// RFC 8414 authorization server metadata.
pub async fn metadata(State(state): State<AppState>, inst: Instance) -> Json<serde_json::Value> {
    let base = state.base_url(&inst.0.domain);
    Json(json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/auth/authorize"),
        "token_endpoint": format!("{base}/auth/token"),
        "registration_endpoint": format!("{base}/auth/register"),
        "revocation_endpoint": format!("{base}/auth/revoke"),
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        "authorization_response_iss_parameter_supported": true,
    }))
}

/// RFC 7591 §3.1: client registration.
pub async fn register(
    State(state): State<AppState>,
    inst: Instance,
    body: Result<JsonBody<ClientMetadata>, ApiError>,
) -> Response {
    let meta = match body {
        Ok(JsonBody(m)) => m,
        Err(e) => {
            return oauth_error(
                e.status_and_code().0,
                &OAuthError::new("invalid_client_metadata", e.public_message()),
            );
        }
    };
    match state.auth.register_client(&inst.0.id, meta).await {
        Ok(resp) => {
            let mut r = (StatusCode::CREATED, Json(resp)).into_response();
            no_store(&mut r);
            r
        }
        Err(nuage_auth::AuthError::OAuth(e)) => oauth_error(StatusCode::BAD_REQUEST, &e),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// Sends an authorization result back to the client (RFC 6749 §4.1.2),
/// with the issuer (RFC 9207) so a client can't be confused between servers.
fn redirect_back(
    redirect_uri: &str,
    pairs: &[(&str, &str)],
    state: Option<&str>,
    iss: &str,
) -> Response {
    let Ok(mut u) = url::Url::parse(redirect_uri) else {
        return message_page(
            StatusCode::BAD_REQUEST,
            "Invalid redirect",
            "the application's redirect URI is not a URL",
        );
    };
    {
        let mut q = u.query_pairs_mut();
        for (k, v) in pairs {
            q.append_pair(k, v);
        }
        if let Some(s) = state {
            q.append_pair("state", s);
        }
        q.append_pair("iss", iss);
    }
    see_other(u.as_str())
}

pub async fn authorize_page(
    State(state): State<AppState>,
    inst: Instance,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    session: Result<FormSession, ApiError>,
    Query(params): Query<AuthorizeParams>,
) -> Response {
    if session.is_err() {
        let next = uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/auth/authorize");
        let enc: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
        return see_other(&format!("/auth/login?next={enc}"));
    }
    let iss = state.base_url(&inst.0.domain);
    match state.auth.validate_authorize(&inst.0.id, &params).await {
        Ok(v) => {
            let c = csrf::for_page(&headers, state.config.https);
            let html = consent_page(
                &inst.0.domain,
                &c.token,
                &v.client.client_name,
                &v.redirect_uri,
                &v.permissions,
                &params,
            );
            with_cookies(Html(html).into_response(), [c.set_cookie])
        }
        Err(e) => authorize_error(e, &iss),
    }
}

fn authorize_error(e: AuthorizeError, iss: &str) -> Response {
    match e {
        AuthorizeError::NoRedirect(msg) => message_page(
            StatusCode::BAD_REQUEST,
            "This authorization request is not valid",
            &msg,
        ),
        AuthorizeError::Redirect {
            redirect_uri,
            error,
            state,
        } => redirect_back(
            &redirect_uri,
            &[
                ("error", error.code),
                ("error_description", &error.description),
            ],
            state.as_deref(),
            iss,
        ),
        AuthorizeError::Store(e) => ApiError::from(e).into_response(),
    }
}

#[derive(Deserialize)]
pub struct ConsentForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    decision: String,
    #[serde(flatten)]
    params: AuthorizeParams,
}

pub async fn authorize_submit(
    State(state): State<AppState>,
    inst: Instance,
    headers: HeaderMap,
    session: FormSession,
    FormBody(form): FormBody<ConsentForm>,
) -> Response {
    if let Err(e) = csrf::check_form(&headers, &form.csrf) {
        return e.into_response();
    }
    let iss = state.base_url(&inst.0.domain);
    let v = match state
        .auth
        .validate_authorize(&inst.0.id, &form.params)
        .await
    {
        Ok(v) => v,
        Err(e) => return authorize_error(e, &iss),
    };
    if form.decision != "allow" {
        tracing::info!(instance = %inst.0.id, client = %v.client.client_id, "owner denied an authorization request");
        return redirect_back(
            &v.redirect_uri,
            &[
                ("error", "access_denied"),
                ("error_description", "the owner denied the request"),
            ],
            v.state.as_deref(),
            &iss,
        );
    }
    match state.auth.grant_code(&inst.0.id, &v).await {
        Ok(code) => {
            tracing::info!(instance = %inst.0.id, client = %v.client.client_id, scope = %v.scope, session = %session.session_id, "owner granted access");
            redirect_back(
                &v.redirect_uri,
                &[("code", &code)],
                v.state.as_deref(),
                &iss,
            )
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// RFC 6749 §2.3.1: client credentials in HTTP Basic are form-urlencoded
/// before base64.
fn basic_client(headers: &HeaderMap) -> Option<(String, String)> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, enc) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(enc.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (id, secret) = text.split_once(':')?;
    let dec = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    Some((dec(id)?, dec(secret)?))
}

fn status_for(e: &OAuthError) -> StatusCode {
    if e.code == "invalid_client" {
        StatusCode::UNAUTHORIZED
    } else if e.code == "server_error" {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::BAD_REQUEST
    }
}

pub async fn token(
    State(state): State<AppState>,
    inst: Instance,
    headers: HeaderMap,
    body: Result<FormBody<TokenParams>, ApiError>,
) -> Response {
    let params = match body {
        Ok(FormBody(p)) => p,
        Err(e) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                &OAuthError::invalid_request(e.public_message()),
            );
        }
    };
    match state
        .auth
        .token(&inst.0.id, &params, basic_client(&headers))
        .await
    {
        Ok(t) => {
            let mut r = Json(t).into_response();
            no_store(&mut r);
            r
        }
        Err(e) => {
            if e.code == "server_error" {
                tracing::error!(error = %e, "token endpoint failed");
            }
            oauth_error(status_for(&e), &e)
        }
    }
}

#[derive(Deserialize)]
pub struct RevokeForm {
    token: Option<String>,
    #[serde(flatten)]
    client: TokenParams,
}

/// RFC 7009 §2: 200 whether or not the token was known.
pub async fn revoke(
    State(state): State<AppState>,
    inst: Instance,
    headers: HeaderMap,
    body: Result<FormBody<RevokeForm>, ApiError>,
) -> Response {
    let form = match body {
        Ok(FormBody(f)) => f,
        Err(e) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                &OAuthError::invalid_request(e.public_message()),
            );
        }
    };
    let Some(token) = form.token else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            &OAuthError::invalid_request("send the token to revoke"),
        );
    };
    match state
        .auth
        .revoke_token(&inst.0.id, &token, &form.client, basic_client(&headers))
        .await
    {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => oauth_error(status_for(&e), &e),
    }
}
