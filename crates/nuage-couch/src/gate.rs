//! What the CouchDB face needs from the server around it, and nothing
//! more: who is calling (the instance the request is for and the
//! credential's access), a way to check a held credential again, and the
//! shutdown signal. `nuage-web` implements it over `Host` resolution and
//! `nuage-auth`; tests could implement it over anything.

use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use nuage_core::{Access, InstanceId};
use nuage_docs::Docs;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// A boxed future, so that [`Gate`] stays object-safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The server around the CouchDB face.
pub trait Gate: Send + Sync + 'static {
    /// The authenticated caller of a request, or why not.
    fn caller<'a>(&'a self, parts: &'a Parts) -> BoxFuture<'a, Result<Caller, Refusal>>;

    /// The credential a request presents, kept by a long-lived answer (a
    /// live `_changes` feed) to check it again: only such answers ask for
    /// it, other handlers never copy it. `None`: nothing to check.
    fn hold(&self, headers: &HeaderMap, instance: &InstanceId) -> Option<Arc<dyn Recheck>>;

    /// Becomes true when the server shuts down: live feeds end then, so a
    /// graceful shutdown never waits on a client.
    fn stopping(&self) -> tokio::sync::watch::Receiver<bool>;
}

/// Checks again the credential a long-lived answer was opened with.
pub trait Recheck: Send + Sync {
    /// How long an answer may go without checking.
    fn every(&self) -> Duration;
    /// Is it still good (not revoked, not expired)?
    fn still_valid(&self) -> BoxFuture<'_, bool>;
}

/// Who is calling, on which instance, with what permissions.
#[derive(Clone)]
pub struct Caller {
    pub instance: InstanceId,
    pub access: Access,
}

/// A request refused before it reaches the document service
/// (unauthenticated, unknown host, CSRF, throttled…), in the terms the
/// CouchDB face answers with.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub status: StatusCode,
    /// CouchDB's `error` code (`unauthorized`, `not_found`, `forbidden`…).
    pub error: String,
    /// What happened and what to do next.
    pub reason: String,
    /// Headers that go with the status (`WWW-Authenticate`, `Retry-After`).
    pub headers: HeaderMap,
}

/// The state of the `/data` router.
#[derive(Clone)]
pub struct CouchState {
    pub docs: Docs,
    pub gate: Arc<dyn Gate>,
}
