//! A response read whole, so a test can check its status, headers and body
//! in any order, and every failed check shows what the server said.

use reqwest::header::{CONTENT_TYPE, HeaderMap};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::Value;
use std::fmt;

#[derive(Debug, Clone)]
pub struct Reply {
    pub method: Method,
    pub url: String,
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

/// Sends a request; a transport error fails the test, naming the request.
pub async fn send(request: RequestBuilder) -> Reply {
    let (client, request) = request.build_split();
    let request = request.expect("a well-formed request");
    let (method, url) = (request.method().clone(), request.url().to_string());
    let response = client
        .execute(request)
        .await
        .unwrap_or_else(|e| panic!("{method} {url} failed: {e:?}"));
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .text()
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: reading the body failed: {e:?}"));
    Reply {
        method,
        url,
        status,
        headers,
        body,
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let body: String = self.body.chars().take(2000).collect();
        write!(
            f,
            "{} {} → {}\n{:?}\n{body}",
            self.method, self.url, self.status, self.headers
        )
    }
}

impl Reply {
    pub fn expect_status(self, status: StatusCode) -> Reply {
        assert_eq!(self.status, status, "unexpected status: {self}");
        self
    }

    /// All values of a header, joined with `, `.
    pub fn header(&self, name: &str) -> Option<String> {
        let values: Vec<&str> = self
            .headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().expect("an ASCII header value"))
            .collect();
        (!values.is_empty()).then(|| values.join(", "))
    }

    pub fn content_type(&self) -> String {
        self.header(CONTENT_TYPE.as_str()).unwrap_or_default()
    }

    pub fn is_json(&self) -> bool {
        self.content_type().starts_with("application/json")
    }

    pub fn is_html(&self) -> bool {
        self.content_type().starts_with("text/html")
    }

    /// The JSON body; fails unless the status is `status` and the body JSON.
    pub fn json_ok(self, status: StatusCode) -> Value {
        let reply = self.expect_status(status);
        assert!(reply.is_json(), "expected a JSON body: {reply}");
        serde_json::from_str(&reply.body).unwrap_or_else(|e| panic!("bad JSON ({e}): {reply}"))
    }

    /// An API error: `status` and `{"error": code, "message": "…"}`; on the
    /// CouchDB API (`/data/…`) the protocol's `{"error": code, "reason": "…"}`.
    pub fn expect_error(self, status: StatusCode, code: &str) -> Value {
        let display = self.to_string();
        let text = if self.is_couchdb() {
            "reason"
        } else {
            "message"
        };
        let body = self.json_ok(status);
        assert_eq!(body["error"], code, "wrong error code: {display}");
        assert!(
            body[text].as_str().is_some_and(|m| !m.is_empty()),
            "an error must say what happened in `{text}`: {display}"
        );
        body
    }

    /// Was this a request to the CouchDB-compatible data API?
    pub fn is_couchdb(&self) -> bool {
        reqwest::Url::parse(&self.url).is_ok_and(|u| u.path().starts_with("/data/"))
    }

    /// The sentence explaining an error, wherever the API puts it.
    pub fn error_text(body: &Value) -> &str {
        body["message"]
            .as_str()
            .or_else(|| body["reason"].as_str())
            .unwrap_or_default()
    }

    /// An OAuth error (RFC 6749 §5.2): `{"error": code, "error_description"?}`.
    pub fn expect_oauth_error(self, status: StatusCode, code: &str) -> Value {
        let display = self.to_string();
        let body = self.json_ok(status);
        assert_eq!(body["error"], code, "wrong OAuth error: {display}");
        body
    }

    /// 401 with `WWW-Authenticate`: the credential is not known here. The
    /// CouchDB API names it as CouchDB does, `unauthorized`.
    pub fn expect_unauthenticated(self) -> Value {
        let challenge = self.header("www-authenticate");
        let display = self.to_string();
        let code = if self.is_couchdb() {
            "unauthorized"
        } else {
            "unauthenticated"
        };
        let body = self.expect_error(StatusCode::UNAUTHORIZED, code);
        assert!(
            challenge.is_some_and(|c| c.contains("Bearer")),
            "a 401 must carry `WWW-Authenticate: Bearer`: {display}"
        );
        body
    }

    /// The `Location` of a redirect.
    pub fn location(&self) -> String {
        self.header("location")
            .unwrap_or_else(|| panic!("no Location header: {self}"))
    }

    /// The `Set-Cookie` header that sets cookie `name`, attributes included.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| {
                v.split(';')
                    .next()
                    .and_then(|nv| nv.split_once('='))
                    .is_some_and(|(n, _)| n.trim() == name)
            })
            .map(str::to_owned)
    }

    /// The value `Set-Cookie` gives cookie `name`.
    pub fn cookie_value(&self, name: &str) -> Option<String> {
        self.set_cookie(name).and_then(|c| {
            c.split(';')
                .next()
                .and_then(|nv| nv.split_once('='))
                .map(|(_, v)| v.trim().to_owned())
        })
    }

    /// `Retry-After` as whole seconds.
    pub fn retry_after(&self) -> u64 {
        let raw = self
            .header("retry-after")
            .unwrap_or_else(|| panic!("no Retry-After header: {self}"));
        raw.trim()
            .parse()
            .unwrap_or_else(|_| panic!("Retry-After must be whole seconds, got {raw:?}: {self}"))
    }
}
