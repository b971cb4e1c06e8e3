//! The onboarding link: the owner chooses the first passphrase.

use super::html_error;
use super::login::{fresh_row, logged_in, session_meta};
use super::with_cookies;
use crate::csrf;
use crate::error::ApiError;
use crate::extract::{ClientAddr, FormBody, Instance};
use crate::pages::{message_page, onboarding_page};
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

const USED_LINK: &str = "This onboarding link was already used or has expired. Log in with your \
     passphrase, or ask the administrator for a new link (`nuage instance onboarding DOMAIN`).";

#[derive(Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
}

pub async fn page(
    State(state): State<AppState>,
    inst: Instance,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
) -> Response {
    let row = match fresh_row(&state, &inst).await {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    if row.onboarded() || !state.auth.onboarding_valid(&row, &q.token) {
        return message_page(StatusCode::BAD_REQUEST, "Link no longer valid", USED_LINK);
    }
    let c = csrf::for_page(&headers, state.config.https);
    with_cookies(
        Html(onboarding_page(&inst.0.domain, &c.token, &q.token, None)).into_response(),
        [c.set_cookie],
    )
}

#[derive(Deserialize)]
pub struct OnboardingForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    passphrase: String,
    #[serde(default)]
    passphrase_confirm: String,
}

pub async fn submit(
    State(state): State<AppState>,
    inst: Instance,
    addr: ClientAddr,
    headers: HeaderMap,
    FormBody(form): FormBody<OnboardingForm>,
) -> Response {
    let c = csrf::for_page(&headers, state.config.https);
    let fail = |e: ApiError| {
        html_error(
            &e,
            onboarding_page(
                &inst.0.domain,
                &c.token,
                &form.token,
                Some(&e.public_message()),
            ),
        )
    };
    if let Err(e) = csrf::check_form(&headers, &form.csrf) {
        return fail(e);
    }
    if form.passphrase != form.passphrase_confirm {
        return fail(ApiError::BadRequest(
            "the two passphrases differ; type the same one twice".into(),
        ));
    }
    let row = match fresh_row(&state, &inst).await {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    if row.onboarded() {
        return message_page(StatusCode::BAD_REQUEST, "Link no longer valid", USED_LINK);
    }
    match state
        .auth
        .onboard(
            &row,
            &form.token,
            &form.passphrase,
            &session_meta(&headers, &addr),
        )
        .await
    {
        Ok((token, session)) => {
            tracing::info!(instance = %row.id, "owner chose a passphrase; onboarding complete");
            logged_in(&state, &token, &session, "/")
        }
        Err(e) => fail(e.into()),
    }
}
