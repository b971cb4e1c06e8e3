//! The `Host` header must be unambiguous before anything reads it.
//!
//! RFC 9112 §3.2: "A server MUST respond with a 400 (Bad Request) status
//! code to any HTTP/1.1 request message that lacks a Host header field and
//! to any request message that contains more than one Host header field
//! line or a Host header field with an invalid field value." Two Host lines
//! are how a request smuggles one instance's name past a proxy that routes
//! by the other, so the check runs on every listener, before the instance
//! is looked up (`instances::resolve` reads the first line only).

use crate::error::ApiError;
use axum::extract::Request;
use axum::http::uri::Authority;
use axum::http::{HeaderMap, Version, header};
use axum::middleware::Next;
use axum::response::Response;

/// Why a request's `Host` is refused, in words for the sender.
fn host_problem(version: Version, headers: &HeaderMap) -> Option<&'static str> {
    let mut lines = headers.get_all(header::HOST).iter();
    let Some(value) = lines.next() else {
        // HTTP/1.0 predates Host; HTTP/2 and later carry `:authority`.
        return (version == Version::HTTP_11)
            .then_some("the request has no Host header; HTTP/1.1 requires one naming the cloud (RFC 9112 §3.2)");
    };
    if lines.next().is_some() {
        return Some(
            "the request has more than one Host header; send exactly one, naming the cloud (RFC 9112 §3.2)",
        );
    }
    // uri-host [ ":" port ] (RFC 9112 §3.2, RFC 3986 §3.2.2); an empty value
    // is allowed for targets without an authority. No userinfo.
    let valid = match value.to_str() {
        Ok("") => true,
        Ok(v) => {
            !v.contains('@')
                && v.parse::<Authority>()
                    .is_ok_and(|a| a.port_u16().is_some() || a.as_str() == a.host())
        }
        Err(_) => false,
    };
    (!valid).then_some(
        "the Host header is not a host name with an optional port; send the cloud's address, such as cloud.example or localhost:8080",
    )
}

/// Middleware: answers 400 to a request whose Host is missing, repeated or
/// malformed.
pub async fn require_one_host(req: Request, next: Next) -> Response {
    match host_problem(req.version(), req.headers()) {
        Some(problem) => {
            crate::couch_gate::answer(req.uri().path(), ApiError::BadRequest(problem.into()))
        }
        None => next.run(req).await,
    }
}

#[cfg(test)]
mod tests {
    use super::host_problem;
    use axum::http::{HeaderMap, HeaderValue, Version, header};

    fn hosts(values: &[&'static str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(header::HOST, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn one_well_formed_host_passes() {
        for v in [
            "localhost:8080",
            "cloud.example",
            "[::1]:8080",
            "127.0.0.1",
            "",
        ] {
            assert_eq!(host_problem(Version::HTTP_11, &hosts(&[v])), None, "{v:?}");
        }
    }

    #[test]
    fn a_missing_repeated_or_malformed_host_is_refused() {
        assert!(host_problem(Version::HTTP_11, &hosts(&[])).is_some());
        assert_eq!(host_problem(Version::HTTP_10, &hosts(&[])), None);
        assert!(host_problem(Version::HTTP_11, &hosts(&["a.example", "a.example"])).is_some());
        assert!(host_problem(Version::HTTP_10, &hosts(&["a.example", "b.example"])).is_some());
        for v in [
            "user@cloud.example",
            "a b",
            "cloud.example/path",
            "cloud.example:port",
        ] {
            assert!(
                host_problem(Version::HTTP_11, &hosts(&[v])).is_some(),
                "{v:?}"
            );
        }
    }
}
