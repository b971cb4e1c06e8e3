//! Reading and writing the two cookies nuage sets: the session and the CSRF
//! token. Both are host-only (no Domain attribute): an app served on a
//! subdomain never sees them.

use axum::http::{HeaderMap, HeaderValue, header};

pub const SESSION: &str = "nuage_session";
pub const CSRF: &str = "nuage_csrf";

/// The value of cookie `name` in the request, if any.
pub fn get<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
}

/// `Set-Cookie` for the session: HttpOnly, SameSite=Lax, Secure under TLS.
pub fn session(value: &str, max_age_secs: u64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

pub fn clear_session(secure: bool) -> HeaderValue {
    session("", 0, secure)
}

/// `Set-Cookie` for the CSRF token: readable by the instance's own scripts
/// (double-submit), never sent cross-site.
pub fn csrf(value: &str, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!("{CSRF}={value}; Path=/; SameSite=Strict{secure}"))
        .unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; nuage_session=abc; b=2"),
        );
        assert_eq!(get(&h, SESSION), Some("abc"));
        assert_eq!(get(&h, "b"), Some("2"));
        assert_eq!(get(&h, "nuage"), None);
    }

    #[test]
    fn the_session_cookie_is_http_only_and_lax() {
        let v = session("x", 60, true);
        let s = v.to_str().unwrap();
        assert!(s.contains("HttpOnly") && s.contains("SameSite=Lax") && s.contains("Secure"));
        assert!(!session("x", 60, false).to_str().unwrap().contains("Secure"));
    }
}
