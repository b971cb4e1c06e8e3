//! CSRF protection for HTML forms: the double-submit pattern. A form page
//! puts a random token in a cookie (SameSite=Strict) and in a hidden field;
//! the POST must carry both, equal. A cross-site page can make the browser
//! send the cookie but cannot read it to fill the field.

use crate::cookies;
use crate::error::ApiError;
use axum::http::{HeaderMap, HeaderValue};

pub struct PageCsrf {
    pub token: String,
    /// Set when the browser had no token yet.
    pub set_cookie: Option<HeaderValue>,
}

/// The token to embed in a form page, reusing the browser's if it has one.
pub fn for_page(headers: &HeaderMap, secure: bool) -> PageCsrf {
    match cookies::get(headers, cookies::CSRF).filter(|c| c.len() >= 20 && c.len() <= 100) {
        Some(existing) => PageCsrf {
            token: existing.to_owned(),
            set_cookie: None,
        },
        None => {
            let token = nuage_auth::secret::generate("");
            PageCsrf {
                set_cookie: Some(cookies::csrf(&token, secure)),
                token,
            }
        }
    }
}

/// Checks a submitted form's token against the cookie.
pub fn check_form(headers: &HeaderMap, field: &str) -> Result<(), ApiError> {
    match cookies::get(headers, cookies::CSRF) {
        Some(c) if !c.is_empty() && nuage_auth::secret::equal(c, field) => Ok(()),
        _ => Err(ApiError::Csrf),
    }
}
