//! Layers every request goes through: a request id (taken from
//! `X-Request-Id` or made), a tracing span carrying it, metrics, the `Host`
//! check (`host.rs`) and the body-size limit.

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::HeaderValue;
use axum::middleware::{Next, from_fn};
use axum::response::Response;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

pub fn wrap(router: Router, body_limit: usize) -> Router {
    router
        .layer(DefaultBodyLimit::max(body_limit))
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
