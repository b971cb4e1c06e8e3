//! The login form, its second-factor step, and logout.

use super::{html_error, safe_next, see_other, with_cookies};
use crate::cookies;
use crate::csrf;
use crate::error::ApiError;
use crate::extract::{ClientAddr, FormBody, FormSession, Instance};
use crate::pages::{login_page, second_factor_page};
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Response};
use nuage_auth::{LoginOutcome, NewSession};
use nuage_store::{InstanceRow, SessionRow};
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub struct NextQuery {
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    passphrase: String,
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct SecondFactorForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    ticket: String,
    #[serde(default)]
    code: String,
    next: Option<String>,
}

/// The instance's row, fresh from the store (passphrase, TOTP state).
pub(crate) async fn fresh_row(state: &AppState, inst: &Instance) -> Result<InstanceRow, ApiError> {
    state
        .store
        .instance(&inst.0.id)
        .await?
        .ok_or_else(|| ApiError::UnknownInstance(inst.0.domain.clone()))
}

pub(crate) fn session_meta(headers: &HeaderMap, addr: &ClientAddr) -> NewSession {
    NewSession {
        user_agent: headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("unknown")
            .to_owned(),
        address: addr.0.clone(),
    }
}

/// Answers a successful login: the session cookie and a redirect.
pub(crate) fn logged_in(
    state: &AppState,
    token: &str,
    _session: &SessionRow,
    next: &str,
) -> Response {
    let max_age = state.auth.config().session_idle.as_secs();
    with_cookies(
        see_other(next),
        [Some(cookies::session(token, max_age, state.config.https))],
    )
}

pub async fn page(
    State(state): State<AppState>,
    inst: Instance,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Response {
    let c = csrf::for_page(&headers, state.config.https);
    let next = safe_next(q.next.as_deref());
    with_cookies(
        Html(login_page(&inst.0.domain, &c.token, &next, None)).into_response(),
        [c.set_cookie],
    )
}

pub async fn submit(
    State(state): State<AppState>,
    inst: Instance,
    addr: ClientAddr,
    headers: HeaderMap,
    FormBody(form): FormBody<LoginForm>,
) -> Response {
    let next = safe_next(form.next.as_deref());
    let c = csrf::for_page(&headers, state.config.https);
    let fail = |e: ApiError| {
        let html = login_page(&inst.0.domain, &c.token, &next, Some(&e.public_message()));
        with_cookies(html_error(&e, html), [c.set_cookie.clone()])
    };
    if let Err(e) = csrf::check_form(&headers, &form.csrf) {
        return fail(e);
    }
    let row = match fresh_row(&state, &inst).await {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let meta = session_meta(&headers, &addr);
    match state.auth.login(&row, &form.passphrase, &meta).await {
        Ok(LoginOutcome::Session { token, session }) => logged_in(&state, &token, &session, &next),
        Ok(LoginOutcome::NeedsSecondFactor { ticket }) => {
            Html(second_factor_page(&c.token, &ticket, &next, None)).into_response()
        }
        Err(e) => fail(e.into()),
    }
}

pub async fn second_factor(
    State(state): State<AppState>,
    inst: Instance,
    addr: ClientAddr,
    headers: HeaderMap,
    FormBody(form): FormBody<SecondFactorForm>,
) -> Response {
    let next = safe_next(form.next.as_deref());
    let c = csrf::for_page(&headers, state.config.https);
    let fail = |e: ApiError| {
        let html = second_factor_page(&c.token, &form.ticket, &next, Some(&e.public_message()));
        html_error(&e, html)
    };
    if let Err(e) = csrf::check_form(&headers, &form.csrf) {
        return fail(e);
    }
    let row = match fresh_row(&state, &inst).await {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let meta = session_meta(&headers, &addr);
    match state
        .auth
        .login_second_factor(&row, &form.ticket, &form.code, &meta)
        .await
    {
        Ok((token, session)) => logged_in(&state, &token, &session, &next),
        Err(e) => fail(e.into()),
    }
}

#[derive(Deserialize)]
pub struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    session: FormSession,
    FormBody(form): FormBody<LogoutForm>,
) -> Result<Response, ApiError> {
    csrf::check_form(&headers, &form.csrf)?;
    state
        .auth
        .revoke_session(&session.instance.id, &session.session_id)
        .await?;
    Ok(with_cookies(
        see_other("/auth/login"),
        [Some(cookies::clear_session(state.config.https))],
    ))
}
