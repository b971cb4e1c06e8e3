//! `/data/…`: the CouchDB wire face of the document service
//! (`nuage-docs`). Handlers parse the HTTP request (CouchDB's query
//! parameters are JSON-encoded), call one `nuage_docs::Db` method, and
//! answer CouchDB-shaped JSON; errors are `{"error","reason"}` with
//! CouchDB's status codes. Who is calling comes from the server around it,
//! through [`Gate`]; this crate knows nothing of hosts, cookies or tokens.
//!
//! Must stay true: no `/data` error is anything but CouchDB JSON, axum's
//! own refusals included — bodies are read through [`DataBody`], paths
//! through [`Scope`], and a method a path does not take meets the 405
//! fallback; none of axum's plain-text rejections reaches a client.

mod all_docs;
mod attachment;
mod batch;
mod bulk;
mod changes;
mod db;
mod doc;
mod gate;
mod large;
mod mango;
mod query;
pub mod wire;

pub use gate::{BoxFuture, Caller, CouchState, Gate, Recheck, Refusal};

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, FailedToBufferBody};
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use nuage_docs::DocError;
use serde_json::Value;
use wire::CouchError;

/// Every path of this face begins so: refusals made before routing
/// (unknown host, malformed `Host`) answer such paths in CouchDB's shape.
pub const PATH_PREFIX: &str = "/data";

/// Is `path` one of this face's?
pub fn owns_path(path: &str) -> bool {
    path == PATH_PREFIX || path.starts_with("/data/")
}

/// Largest request body on `/data` (documents with inline attachments,
/// `_bulk_docs` batches). Each document is still limited to
/// `max_doc_bytes`.
pub const DATA_BODY_LIMIT: usize = 64 * 1024 * 1024;

/// The `/data` router, for any outer state (it carries its own).
pub fn router<S: Clone + Send + Sync + 'static>(state: CouchState) -> Router<S> {
    Router::new()
        .route("/data", get(db::welcome))
        .route("/data/", get(db::welcome))
        .route("/data/_all_doctypes", get(db::all_doctypes))
        .route(
            "/data/{doctype}",
            get(db::info)
                .put(db::create)
                .delete(db::delete)
                .post(doc::post),
        )
        .route(
            "/data/{doctype}/",
            get(db::info)
                .put(db::create)
                .delete(db::delete)
                .post(doc::post),
        )
        .route(
            "/data/{doctype}/_all_docs",
            get(all_docs::get).post(all_docs::post),
        )
        .route("/data/{doctype}/_compact", post(db::compact))
        .route("/data/{doctype}/_bulk_docs", post(bulk::bulk_docs))
        .route("/data/{doctype}/_bulk_get", post(bulk::bulk_get))
        .route("/data/{doctype}/_revs_diff", post(bulk::revs_diff))
        .route(
            "/data/{doctype}/_changes",
            get(changes::get).post(changes::post),
        )
        .route(
            "/data/{doctype}/_ensure_full_commit",
            post(bulk::ensure_full_commit),
        )
        .route(
            "/data/{doctype}/_index",
            get(mango::list).post(mango::create),
        )
        .route(
            "/data/{doctype}/_index/{ddoc}/json/{name}",
            axum::routing::delete(mango::delete),
        )
        .route(
            "/data/{doctype}/_index/_design/{ddoc}/json/{name}",
            axum::routing::delete(mango::delete),
        )
        .route(
            "/data/{doctype}/_revs_limit",
            get(db::revs_limit).put(db::set_revs_limit),
        )
        .route("/data/{doctype}/_find", post(mango::find))
        .route("/data/{doctype}/_explain", post(mango::explain))
        .route(
            "/data/{doctype}/_local/{id}",
            get(doc::get_local)
                .put(doc::put_local)
                .delete(doc::delete_local),
        )
        .route(
            "/data/{doctype}/_design/{id}",
            get(doc::get_design)
                .put(doc::put_design)
                .delete(doc::delete_design),
        )
        .route(
            "/data/{doctype}/{id}",
            get(doc::get).put(doc::put).delete(doc::delete),
        )
        .route(
            "/data/{doctype}/{id}/{*name}",
            get(attachment::get)
                .put(attachment::put)
                .delete(attachment::delete),
        )
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(DATA_BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            large::layer,
        ))
        .with_state(state)
}

/// A known path with a method it does not take; axum adds the `Allow`
/// header (CouchDB: 405 `method_not_allowed`, "Only GET,HEAD allowed").
async fn method_not_allowed() -> Response {
    wire_error(&CouchError::new(
        405,
        "method_not_allowed",
        "this method is not allowed on this path; the Allow header lists the ones that are",
    ))
}

/// A `/data` request body, read whole. A body over [`DATA_BODY_LIMIT`],
/// or one that cannot be read, is refused in CouchDB's shape: every
/// handler that reads a body takes this, never axum's `Bytes`, whose
/// refusals are plain text.
pub struct DataBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for DataBody {
    type Rejection = Response;
    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        Bytes::from_request(req, state)
            .await
            .map(DataBody)
            .map_err(|e| wire_error(&body_refused(&e)))
    }
}

fn body_refused(e: &BytesRejection) -> CouchError {
    match e {
        BytesRejection::FailedToBufferBody(FailedToBufferBody::LengthLimitError(_)) => {
            too_large_error()
        }
        other => CouchError::new(
            other.status().as_u16(),
            "bad_request",
            format!("the request body could not be read: {}", other.body_text()),
        ),
    }
}

/// CouchDB answers a request over `max_http_request_size` with 413
/// `too_large` (chttpd:error_info/1).
fn too_large_error() -> CouchError {
    CouchError::new(
        413,
        "too_large",
        format!(
            "the request body is larger than the {} MiB limit of /data; send documents in smaller _bulk_docs batches, and keep each attachment under the limit",
            DATA_BODY_LIMIT / (1024 * 1024)
        ),
    )
}

/// The caller of a `/data` route: authenticated, or refused in CouchDB's
/// shape.
pub struct Authenticated(pub Caller);

impl FromRequestParts<CouchState> for Authenticated {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, state: &CouchState) -> Result<Self, Response> {
        if let Some(caller) = large::resolved(parts) {
            return Ok(Authenticated(caller));
        }
        state
            .gate
            .caller(parts)
            .await
            .map(Authenticated)
            .map_err(|r| refusal_response(&r))
    }
}

/// What every `/data/{doctype}/…` handler starts from: the authenticated
/// caller, the doctype and other captures of the path, and the query
/// string (CouchDB's JSON-encoded parameters).
pub struct Scope {
    state: CouchState,
    pub caller: Caller,
    pub doctype: String,
    captures: Vec<(String, String)>,
    pub query: query::Params,
}

impl Scope {
    /// The doctype as the caller may see it.
    pub fn db(&self) -> Result<nuage_docs::Db<'_>, DocError> {
        self.state
            .docs
            .db(&self.caller.instance, &self.caller.access, &self.doctype)
    }

    /// Another capture of the path (`id`, `name`, `ddoc`…), or "".
    pub fn capture(&self, name: &str) -> &str {
        self.captures
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    pub fn state(&self) -> &CouchState {
        &self.state
    }
}

impl FromRequestParts<CouchState> for Scope {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, state: &CouchState) -> Result<Self, Response> {
        let Authenticated(caller) = Authenticated::from_request_parts(parts, state).await?;
        let raw = axum::extract::RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|e| {
                // `%FF` in a name: not UTF-8, so no doctype, id or
                // attachment can have it.
                wire_error(&CouchError::new(
                    400,
                    "bad_request",
                    format!(
                        "the path is not valid: {}; document ids, doctypes and attachment names are UTF-8, percent-encoded",
                        e.body_text()
                    ),
                ))
            })?;
        let captures: Vec<(String, String)> = raw
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let doctype = captures
            .iter()
            .find(|(k, _)| k == "doctype")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let query = query::Params(
            url::form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
                .into_owned()
                .collect(),
        );
        Ok(Scope {
            state: state.clone(),
            caller,
            doctype,
            captures,
            query,
        })
    }
}

/// A refusal of the server around (authentication, CSRF, unknown host)
/// in CouchDB's shape, with the headers that go with it; also for refusals
/// made before the request reaches this router (its path is under
/// [`PATH_PREFIX`]).
pub fn refusal_response(r: &Refusal) -> Response {
    let mut resp = wire_error(&CouchError::new(r.status.as_u16(), &r.error, &r.reason));
    for (k, v) in &r.headers {
        resp.headers_mut().append(k, v.clone());
    }
    resp
}

/// A document service error in CouchDB's shape.
pub fn couch_error(e: &DocError) -> Response {
    wire_error(&CouchError::from(e.clone()))
}

fn wire_error(e: &CouchError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(status, &e.body())
}

/// CouchDB answers JSON with a trailing newline.
pub fn json_response<T: serde::Serialize + ?Sized>(status: StatusCode, v: &T) -> Response {
    // `to_vec` writes bytes directly, without `to_string`'s `fmt::Write`
    // (seen at 6 % of a `_bulk_get`'s CPU).
    let mut body = serde_json::to_vec(v).unwrap_or_default();
    body.push(b'\n');
    couch_response(status, axum::body::Body::from(body), "application/json")
}

/// An answer with the headers CouchDB gives every one: its type, and
/// `must-revalidate` (nothing is cached without asking again).
pub fn couch_response(
    status: StatusCode,
    body: axum::body::Body,
    content_type: &'static str,
) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("must-revalidate"),
    );
    r
}

pub fn couch_result<T: serde::Serialize>(status: StatusCode, r: Result<T, DocError>) -> Response {
    match r {
        Ok(v) => json_response(status, &v),
        Err(e) => couch_error(&e),
    }
}

/// A request body as JSON, or CouchDB's `bad_request`.
pub fn json_body(bytes: &[u8]) -> Result<Value, DocError> {
    if bytes.is_empty() {
        return Err(DocError::bad_request(
            "the request body is empty; send a JSON object",
        ));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| DocError::bad_request(format!("invalid UTF-8 JSON: {e}")))
}
