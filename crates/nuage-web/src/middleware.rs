//! Layers every request goes through: a request id (taken from
//! `X-Request-Id` or made), a tracing span carrying it, metrics, the `Host`
//! check (`host.rs`), the body-size limit, and headers every answer of a
//! kind must carry (nosniff on all, no framing on HTML).

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::{Next, from_fn};
use axum::response::Response;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

pub fn wrap(router: Router, body_limit: usize, body_deadline: std::time::Duration) -> Router {
    router
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(
            body_deadline,
            crate::deadline::body_deadline,
        ))
        .layer(from_fn(crate::host::require_one_host))
        .layer(from_fn(observe))
}

/// A request id unique in this process's life: a random prefix chosen at
/// start-up and a counter (cheaper than a UUID per request).
fn new_request_id() -> String {
    static PREFIX: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let prefix = PREFIX.get_or_init(|| nuage_auth::secret::id()[..8].to_owned());
    format!("{prefix}-{}", NEXT_ID.fetch_add(1, Ordering::Relaxed))
}

async fn observe(mut req: Request, next: Next) -> Response {
    let start = Instant::now();
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 100 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(new_request_id);
    if let Ok(v) = HeaderValue::from_str(&id) {
        req.headers_mut().insert("x-request-id", v);
    }
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let span =
        tracing::debug_span!("request", id = %id, method = %method, path = %req.uri().path());
    let mut resp = tracing::Instrument::instrument(next.run(req), span.clone()).await;
    let status = resp.status().as_u16();
    let elapsed = start.elapsed();
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    // No answer is ever to be reinterpreted as another type by a browser.
    resp.headers_mut()
        .entry("x-content-type-options")
        .or_insert(HeaderValue::from_static("nosniff"));
    forbid_framing(resp.headers_mut());
    span.in_scope(|| tracing::debug!(status, micros = elapsed.as_micros() as u64, "answered"));
    if status >= 500 {
        tracing::warn!(request_id = %id, %method, route = %route, status, "request failed");
    }
    let labels = [
        ("method", method.as_str().to_owned()),
        ("route", route),
        ("status", status.to_string()),
    ];
    metrics::counter!("nuage_http_requests_total", &labels).increment(1);
    metrics::histogram!("nuage_http_request_duration_seconds", &labels[..2])
        .record(elapsed.as_secs_f64());
    resp
}

/// No HTML page of nuage may be shown inside another site's frame, where a
/// transparent overlay could trick the owner into clicking "Allow" or
/// "Log out" (clickjacking). CSP `frame-ancestors 'none'` (CSP Level 3
/// §7.7.3) says it to current browsers and `X-Frame-Options: DENY`
/// (RFC 7034) to older ones. A policy the answer already has is kept and
/// completed; one that already chose its frame ancestors is left alone.
fn forbid_framing(h: &mut HeaderMap) {
    let is_html = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.trim_start().to_ascii_lowercase().starts_with("text/html"));
    if !is_html {
        return;
    }
    h.entry(header::X_FRAME_OPTIONS)
        .or_insert(HeaderValue::from_static("DENY"));
    const NONE: &str = "frame-ancestors 'none'";
    let mut policies: Vec<HeaderValue> = h
        .get_all(header::CONTENT_SECURITY_POLICY)
        .iter()
        .cloned()
        .collect();
    let names_ancestors = |p: &HeaderValue| {
        p.to_str().is_ok_and(|p| {
            p.split(';').any(|directive| {
                directive
                    .split_ascii_whitespace()
                    .next()
                    .is_some_and(|name| name.eq_ignore_ascii_case("frame-ancestors"))
            })
        })
    };
    if policies.iter().any(names_ancestors) {
        return;
    }
    // Every policy of an answer is enforced (CSP Level 3 §8.1): completing
    // the first is enough, and keeps one policy where there was one.
    let completed = match policies.first().and_then(|p| p.to_str().ok()) {
        Some(first) if !first.trim().is_empty() => {
            HeaderValue::from_str(&format!("{}; {NONE}", first.trim().trim_end_matches(';')))
                .unwrap_or(HeaderValue::from_static(NONE))
        }
        _ => HeaderValue::from_static(NONE),
    };
    match policies.first_mut() {
        Some(first) if first.to_str().is_ok() => *first = completed,
        _ => policies.insert(0, completed),
    }
    h.remove(header::CONTENT_SECURITY_POLICY);
    for p in policies {
        h.append(header::CONTENT_SECURITY_POLICY, p);
    }
}

#[cfg(test)]
mod tests {
    use super::forbid_framing;
    use axum::http::{HeaderMap, HeaderValue, header};

    fn answer(content_type: &'static str, csp: &[&'static str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        for p in csp {
            h.append(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(p));
        }
        forbid_framing(&mut h);
        h
    }

    fn policies(h: &HeaderMap) -> Vec<&str> {
        h.get_all(header::CONTENT_SECURITY_POLICY)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect()
    }

    #[test]
    fn html_answers_cannot_be_framed_and_keep_their_policy() {
        let h = answer("text/html; charset=utf-8", &[]);
        assert_eq!(policies(&h), ["frame-ancestors 'none'"]);
        assert_eq!(h[header::X_FRAME_OPTIONS], "DENY");
        let h = answer(
            "text/html",
            &["default-src 'none'; sandbox;", "img-src data:"],
        );
        assert_eq!(
            policies(&h),
            [
                "default-src 'none'; sandbox; frame-ancestors 'none'",
                "img-src data:"
            ]
        );
        let h = answer("text/html", &["frame-ancestors 'self'"]);
        assert_eq!(policies(&h), ["frame-ancestors 'self'"]);
    }

    #[test]
    fn other_answers_are_left_alone() {
        let h = answer("application/json", &[]);
        assert!(policies(&h).is_empty());
        assert!(h.get(header::X_FRAME_OPTIONS).is_none());
    }
}
