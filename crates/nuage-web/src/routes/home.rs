//! `GET /`: the owner's landing page, or the way to the login form.

use super::{see_other, with_cookies};
use crate::csrf;
use crate::extract::Authed;
use crate::pages::home_page;
use crate::state::AppState;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Response};

pub async fn home(
    State(state): State<AppState>,
    headers: HeaderMap,
    authed: Result<Authed, crate::error::ApiError>,
) -> Response {
    match authed {
        Ok(a) if a.access.is_owner() => {
            let c = csrf::for_page(&headers, state.config.https);
            with_cookies(
                Html(home_page(&a.instance.domain, &c.token)).into_response(),
                [c.set_cookie],
            )
        }
        _ => see_other("/auth/login?next=/"),
    }
}
