//! The public router: `/status` on any host, everything else on the
//! instance named by the `Host` header.

mod home;
mod login;
mod oauth;
mod onboarding;
mod settings;
mod status;

use crate::error::ApiError;
use crate::state::AppState;
use axum::Router;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{delete, get, post};

pub fn public_router(state: AppState) -> Router {
    let instance_routes = Router::new()
        .route("/", get(home::home))
        .route(
            "/auth/onboarding",
            get(onboarding::page).post(onboarding::submit),
        )
        .route("/auth/login", get(login::page).post(login::submit))
        .route("/auth/login/second-factor", post(login::second_factor))
        .route("/auth/logout", post(login::logout))
        .route(
            "/.well-known/oauth-authorization-server",
            get(oauth::metadata),
        )
        .route("/auth/register", post(oauth::register))
        .route(
            "/auth/authorize",
            get(oauth::authorize_page).post(oauth::authorize_submit),
        )
        .route("/auth/token", post(oauth::token))
        .route("/auth/revoke", post(oauth::revoke))
        .route("/settings/instance", get(settings::instance::show))
        .route("/settings/sessions", get(settings::sessions::list))
        .route(
            "/settings/sessions/{id}",
            delete(settings::sessions::revoke),
        )
        .route(
            "/settings/passphrase",
            axum::routing::put(settings::passphrase::change),
        )
        .route(
            "/settings/totp",
            post(settings::totp::begin).delete(settings::totp::disable),
        )
        .route("/settings/totp/confirm", post(settings::totp::confirm))
        .route(
            "/settings/app-passwords",
            get(settings::app_passwords::list).post(settings::app_passwords::create),
        )
        .route(
            "/settings/app-passwords/{id}",
            delete(settings::app_passwords::revoke),
        )
        .route("/settings/clients", get(settings::clients::list))
        .route("/settings/clients/{id}", delete(settings::clients::revoke))
        .merge(nuage_couch::router(crate::couch_gate::couch_state(&state)))
        .route("/realtime/", get(crate::realtime::upgrade))
        .route("/realtime", get(crate::realtime::upgrade))
        .fallback(not_found)
        .layer(from_fn_with_state(state.clone(), crate::instances::resolve));
    Router::new()
        .route("/status", get(status::status))
        .merge(instance_routes)
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such route; see docs/http-api.md for the API".into())
}

/// An HTML page answering an error: the status, the headers the error
/// carries (`Retry-After`, …), the page.
pub(crate) fn html_error(err: &ApiError, html: String) -> Response {
    let (status, _) = err.status_and_code();
    let mut resp = (status, Html(html)).into_response();
    err.extra_headers(&mut resp);
    resp
}

/// Adds `Set-Cookie` headers to a response.
pub(crate) fn with_cookies(
    mut resp: Response,
    cookies: impl IntoIterator<Item = Option<HeaderValue>>,
) -> Response {
    for c in cookies.into_iter().flatten() {
        resp.headers_mut().append(axum::http::header::SET_COOKIE, c);
    }
    resp
}

/// A `303 See Other` to `location`.
pub(crate) fn see_other(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(v) => (StatusCode::SEE_OTHER, [(axum::http::header::LOCATION, v)]).into_response(),
        Err(_) => ApiError::BadRequest("invalid redirect location".into()).into_response(),
    }
}

/// Only same-site relative paths may be a `next` target: no open redirect.
pub(crate) fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                // Browsers drop tabs and newlines from URLs: "/\t/evil"
                // would become "//evil".
                && !n.chars().any(|c| c.is_control() || c.is_whitespace())
                && n.len() < 2000 =>
        {
            n.to_owned()
        }
        _ => "/".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn next_never_leaves_the_site() {
        assert_eq!(
            super::safe_next(Some("/auth/authorize?x=1")),
            "/auth/authorize?x=1"
        );
        assert_eq!(super::safe_next(Some("//evil.example")), "/");
        assert_eq!(super::safe_next(Some("https://evil.example")), "/");
        assert_eq!(super::safe_next(Some("/\\evil")), "/");
        assert_eq!(super::safe_next(Some("/\t/evil.example")), "/");
        assert_eq!(super::safe_next(Some("/ /evil.example")), "/");
        assert_eq!(super::safe_next(None), "/");
    }
}
