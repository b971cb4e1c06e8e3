//! The CouchDB face's view of this server (`nuage_couch::Gate`): the
//! instance comes from `Host` (resolved by `instances::resolve`), the
//! caller from the credential, and every refusal is handed over in
//! CouchDB's terms.

use crate::error::ApiError;
use crate::extract::{Authed, HeldCredential, RECHECK};
use crate::state::AppState;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::response::Response;
use nuage_core::InstanceId;
use nuage_couch::{BoxFuture, Caller, CouchState, Gate, Recheck, Refusal};
use std::sync::Arc;
use std::time::Duration;

/// The `/data` router's state over this server.
pub fn couch_state(state: &AppState) -> CouchState {
    CouchState {
        docs: state.docs.clone(),
        gate: Arc::new(WebGate {
            state: state.clone(),
        }),
    }
}

struct WebGate {
    state: AppState,
}

impl Gate for WebGate {
    fn caller<'a>(&'a self, parts: &'a Parts) -> BoxFuture<'a, Result<Caller, Refusal>> {
        Box::pin(async move {
            let authed = Authed::of(parts, &self.state).await.map_err(refusal)?;
            Ok(Caller {
                instance: authed.instance.id.clone(),
                access: authed.access,
            })
        })
    }

    fn hold(&self, headers: &HeaderMap, instance: &InstanceId) -> Option<Arc<dyn Recheck>> {
        let cred = HeldCredential::from_headers(headers)?;
        Some(Arc::new(Held {
            state: self.state.clone(),
            instance: instance.clone(),
            cred,
        }))
    }

    fn stopping(&self) -> tokio::sync::watch::Receiver<bool> {
        self.state.stopping()
    }
}

struct Held {
    state: AppState,
    instance: InstanceId,
    cred: HeldCredential,
}

impl Recheck for Held {
    fn every(&self) -> Duration {
        RECHECK
    }

    fn still_valid(&self) -> BoxFuture<'_, bool> {
        Box::pin(self.cred.still_valid(&self.state, &self.instance))
    }
}

/// A refusal made before routing (unknown host, malformed `Host`): in
/// CouchDB's shape on `/data`, ours elsewhere.
pub fn answer(path: &str, e: ApiError) -> Response {
    if nuage_couch::owns_path(path) {
        nuage_couch::refusal_response(&refusal(e))
    } else {
        axum::response::IntoResponse::into_response(e)
    }
}

/// The web layer's refusal (authentication, CSRF, unknown host) in
/// CouchDB's codes.
fn refusal(e: ApiError) -> Refusal {
    let (status, code) = e.status_and_code();
    let error = match code {
        "unauthenticated" => "unauthorized",
        "unknown_instance" => "not_found",
        other => other,
    };
    // The headers that go with the status (`WWW-Authenticate`,
    // `Retry-After`), as every other face answers them.
    let mut probe = Response::new(axum::body::Body::empty());
    *probe.status_mut() = status;
    e.extra_headers(&mut probe);
    Refusal {
        status,
        error: error.to_owned(),
        reason: e.public_message(),
        headers: probe.headers().clone(),
    }
}
