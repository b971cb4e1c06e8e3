//! Extractors: the request's instance, its credential, its client address,
//! and JSON / form bodies whose rejections use our error shape.

use crate::cookies;
use crate::error::ApiError;
use crate::instances::{InstanceCtx, Origin};
use crate::state::AppState;
use axum::extract::rejection::{FormRejection, JsonRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use base64::Engine as _;
use nuage_auth::{AuthError, Presented};
use nuage_core::{Access, Subject};
use serde::de::DeserializeOwned;
use std::net::SocketAddr;
use std::sync::Arc;

fn instance_of(parts: &Parts) -> Result<Arc<InstanceCtx>, ApiError> {
    parts
        .extensions
        .get::<Origin>()
        .map(|o| o.instance().clone())
        .ok_or_else(|| ApiError::UnknownInstance(String::new()))
}

/// The instance the request is for.
pub struct Instance(pub Arc<InstanceCtx>);

impl<S: Send + Sync> FromRequestParts<S> for Instance {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        instance_of(parts).map(Instance)
    }
}

/// The client's address, for throttling and the sessions list.
pub struct ClientAddr(pub String);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if state.config.trust_forwarded_for
            && let Some(last) = parts
                .headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit(',').next())
        {
            return Ok(ClientAddr(last.trim().to_owned()));
        }
        let addr = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string())
            .unwrap_or_else(|| "unknown".into());
        Ok(ClientAddr(addr))
    }
}

/// An authenticated request: who, with what permissions, on which instance.
pub struct Authed {
    pub instance: Arc<InstanceCtx>,
    pub access: Access,
}

/// Reads the credential a request presents, in order of precedence.
fn presented(headers: &HeaderMap) -> Option<(Presented<'_>, bool)> {
    if let Some(auth) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let (scheme, rest) = auth.split_once(' ').unwrap_or((auth, ""));
        if scheme.eq_ignore_ascii_case("bearer") {
            return Some((Presented::Bearer(rest.trim()), false));
        }
        if scheme.eq_ignore_ascii_case("basic") {
            return Some((Presented::Basic(rest.trim()), false));
        }
        return None;
    }
    cookies::get(headers, cookies::SESSION).map(|c| (Presented::Session(c), true))
}

/// RFC 7617: `base64(user:password)`; nuage only looks at the password.
fn basic_password(encoded: &str) -> Option<String> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    text.split_once(':').map(|(_, p)| p.to_owned())
}

/// A state-changing request authenticated by cookie must prove it comes
/// from our own pages: the CSRF header (or form field, checked by the form
/// handlers) must equal the CSRF cookie.
fn csrf_ok(method: &Method, headers: &HeaderMap) -> bool {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return true;
    }
    match (
        cookies::get(headers, cookies::CSRF),
        headers.get("x-csrf-token").and_then(|v| v.to_str().ok()),
    ) {
        (Some(c), Some(h)) => !c.is_empty() && nuage_auth::secret::equal(c, h),
        _ => false,
    }
}

impl Authed {
    /// The request's instance and its credential's access, or why not.
    pub async fn of(parts: &Parts, state: &AppState) -> Result<Authed, ApiError> {
        let instance = instance_of(parts)?;
        let (cred, via_cookie) = presented(&parts.headers).ok_or(AuthError::Unauthenticated)?;
        let password;
        let cred = match cred {
            Presented::Basic(enc) => {
                password = basic_password(enc).ok_or(AuthError::Unauthenticated)?;
                Presented::Basic(&password)
            }
            other => other,
        };
        let access = state.auth.resolve(&instance.id, cred).await?;
        if via_cookie && !csrf_ok(&parts.method, &parts.headers) {
            return Err(ApiError::Csrf);
        }
        Ok(Authed { instance, access })
    }
}

impl FromRequestParts<AppState> for Authed {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Authed::of(parts, state).await
    }
}

/// The owner, logged in with a session: for settings that only the person
/// who owns the cloud may change, whatever a token's scope says.
pub struct OwnerSession {
    pub instance: Arc<InstanceCtx>,
    pub session_id: String,
}

impl FromRequestParts<AppState> for OwnerSession {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let authed = Authed::from_request_parts(parts, state).await?;
        match authed.access.subject {
            Subject::Session { session_id } => Ok(OwnerSession {
                instance: authed.instance,
                session_id,
            }),
            _ => Err(AuthError::OwnerOnly.into()),
        }
    }
}

/// The owner's session from the cookie alone, without the CSRF header
/// check: for HTML form posts, whose handlers check the form's CSRF field
/// with [`crate::csrf::check_form`] instead.
pub struct FormSession {
    pub instance: Arc<InstanceCtx>,
    pub session_id: String,
}

impl FromRequestParts<AppState> for FormSession {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let instance = instance_of(parts)?;
        let cookie =
            cookies::get(&parts.headers, cookies::SESSION).ok_or(AuthError::Unauthenticated)?;
        let access = state
            .auth
            .resolve(&instance.id, Presented::Session(cookie))
            .await?;
        match access.subject {
            Subject::Session { session_id } => Ok(FormSession {
                instance,
                session_id,
            }),
            _ => Err(AuthError::Unauthenticated.into()),
        }
    }
}

/// A JSON body; rejections answer in our error shape.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(JsonBody(v)),
            Err(rej) => Err(body_rejection(
                rej.status(),
                rej.body_text(),
                matches!(rej, JsonRejection::MissingJsonContentType(_)),
            )),
        }
    }
}

/// A urlencoded form body; rejections answer in our error shape.
pub struct FormBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for FormBody<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Form::<T>::from_request(req, state).await {
            Ok(axum::Form(v)) => Ok(FormBody(v)),
            Err(rej) => Err(body_rejection(
                rej.status(),
                rej.body_text(),
                matches!(rej, FormRejection::InvalidFormContentType(_)),
            )),
        }
    }
}

fn body_rejection(status: StatusCode, text: String, wrong_type: bool) -> ApiError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::TooLarge(crate::DEFAULT_BODY_LIMIT)
    } else if wrong_type || status == StatusCode::UNSUPPORTED_MEDIA_TYPE {
        ApiError::UnsupportedMediaType
    } else {
        ApiError::BadRequest(format!("the body could not be read: {text}"))
    }
}

/// A request's credential, kept by long-lived answers (live feeds,
/// WebSockets) so they can check it again and end once it is revoked or
/// expired.
#[derive(Clone, Debug)]
pub enum HeldCredential {
    Bearer(String),
    /// The app password, already taken out of the Basic header.
    Basic(String),
    Session(String),
}

/// How often a long-lived answer checks its credential again.
pub const RECHECK: std::time::Duration = std::time::Duration::from_secs(10);

impl HeldCredential {
    pub fn from_headers(headers: &HeaderMap) -> Option<HeldCredential> {
        match presented(headers)?.0 {
            Presented::Bearer(t) => Some(HeldCredential::Bearer(t.to_owned())),
            Presented::Basic(enc) => basic_password(enc).map(HeldCredential::Basic),
            Presented::Session(c) => Some(HeldCredential::Session(c.to_owned())),
        }
    }

    /// Is it still good on this instance?
    pub async fn still_valid(&self, state: &AppState, inst: &nuage_core::InstanceId) -> bool {
        let p = match self {
            HeldCredential::Bearer(t) => Presented::Bearer(t),
            HeldCredential::Basic(p) => Presented::Basic(p),
            HeldCredential::Session(c) => Presented::Session(c),
        };
        state.auth.resolve(inst, p).await.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn basic_credentials_yield_the_password() {
        let enc = base64::engine::general_purpose::STANDARD.encode("me:nap_secret:with:colons");
        assert_eq!(
            basic_password(&enc).as_deref(),
            Some("nap_secret:with:colons")
        );
        assert_eq!(basic_password("!!"), None);
    }

    #[test]
    fn cookie_requests_that_change_state_need_the_csrf_header() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("nuage_csrf=tok"));
        assert!(csrf_ok(&Method::GET, &h));
        assert!(!csrf_ok(&Method::POST, &h));
        h.insert("x-csrf-token", HeaderValue::from_static("other"));
        assert!(!csrf_ok(&Method::PUT, &h));
        h.insert("x-csrf-token", HeaderValue::from_static("tok"));
        assert!(csrf_ok(&Method::DELETE, &h));
    }
}
