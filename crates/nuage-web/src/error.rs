//! The web layer's one error type and its mapping to HTTP: the single place
//! where domain errors become status codes and JSON bodies
//! `{"error": code, "message": …}`. OAuth endpoints map their own errors
//! (RFC 6749 §5.2) in `routes::oauth`; HTML pages render theirs in the page.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use nuage_auth::AuthError;
use nuage_store::StoreError;
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Auth(#[from] AuthError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    BadRequest(String),
    #[error(
        "no cloud is served at {0}; check the address, or create it with `nuage instance add {0}`"
    )]
    UnknownInstance(String),
    #[error("{0}")]
    NotFound(String),
    #[error(
        "the request has no valid CSRF token: reload the page and try again (scripts: send the nuage_csrf cookie's value in X-CSRF-Token)"
    )]
    Csrf,
    #[error("the request body is larger than {0} bytes; send a smaller one")]
    TooLarge(usize),
    #[error("send the body as JSON with `Content-Type: application/json`")]
    UnsupportedMediaType,
    #[error("{0}")]
    Conflict(String),
    #[error("the server is not ready: {0}")]
    Unavailable(String),
}

impl ApiError {
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        use StatusCode as S;
        match self {
            ApiError::Auth(a) => match a {
                AuthError::Unauthenticated => (S::UNAUTHORIZED, "unauthenticated"),
                AuthError::WrongPassphrase => (S::UNAUTHORIZED, "wrong_passphrase"),
                AuthError::WrongCode => (S::UNAUTHORIZED, "wrong_code"),
                AuthError::Throttled { .. } => (S::TOO_MANY_REQUESTS, "throttled"),
                AuthError::NotOnboarded => (S::CONFLICT, "not_onboarded"),
                AuthError::Forbidden(_) => (S::FORBIDDEN, "forbidden"),
                AuthError::OwnerOnly => (S::FORBIDDEN, "forbidden"),
                AuthError::Invalid(_) | AuthError::Scope(_) => (S::BAD_REQUEST, "bad_request"),
                AuthError::NotFound(_) => (S::NOT_FOUND, "not_found"),
                AuthError::Exists(_) => (S::CONFLICT, "exists"),
                AuthError::OAuth(_) => (S::BAD_REQUEST, "bad_request"),
                AuthError::Store(StoreError::Exists(_)) => (S::CONFLICT, "exists"),
                AuthError::Store(_) | AuthError::Hash(_) => (S::INTERNAL_SERVER_ERROR, "internal"),
            },
            ApiError::Store(StoreError::Exists(_)) => (S::CONFLICT, "exists"),
            ApiError::Store(_) => (S::INTERNAL_SERVER_ERROR, "internal"),
            ApiError::BadRequest(_) => (S::BAD_REQUEST, "bad_request"),
            ApiError::UnknownInstance(_) => (S::NOT_FOUND, "unknown_instance"),
            ApiError::NotFound(_) => (S::NOT_FOUND, "not_found"),
            ApiError::Csrf => (S::FORBIDDEN, "csrf"),
            ApiError::TooLarge(_) => (S::PAYLOAD_TOO_LARGE, "too_large"),
            ApiError::UnsupportedMediaType => (S::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
            ApiError::Conflict(_) => (S::CONFLICT, "conflict"),
            ApiError::Unavailable(_) => (S::SERVICE_UNAVAILABLE, "unavailable"),
        }
    }

    /// The message shown to the caller. Internal errors are logged in full
    /// and answered with a generic text: no SQL reaches a client.
    pub fn public_message(&self) -> String {
        match self.status_and_code().0 {
            StatusCode::INTERNAL_SERVER_ERROR => {
                "the server failed to handle this request; it was logged. Try again, and if it persists, tell the administrator the request id".into()
            }
            _ => self.to_string(),
        }
    }

    /// Headers that go with the status: `Retry-After` for throttling,
    /// `WWW-Authenticate` for 401 (RFC 9110 §11.6.1).
    pub fn extra_headers(&self, resp: &mut Response) {
        let h = resp.headers_mut();
        if let ApiError::Auth(AuthError::Throttled { retry_after_secs }) = self
            && let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string())
        {
            h.insert(header::RETRY_AFTER, v);
        }
        if resp.status() == StatusCode::UNAUTHORIZED {
            let h = resp.headers_mut();
            h.append(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"nuage\""),
            );
            h.append(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"nuage\", charset=\"UTF-8\""),
            );
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let mut resp = (
            status,
            axum::Json(json!({"error": code, "message": self.public_message()})),
        )
            .into_response();
        self.extra_headers(&mut resp);
        resp
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
