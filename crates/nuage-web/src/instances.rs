//! Choosing what a request is for from the `Host` header: its
//! [`Origin`].
//!
//! Instances are looked up lazily and kept a few seconds: a server with
//! thousands of instances holds only those recently asked for, and an
//! instance added by the command line is served on its first request.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use nuage_core::InstanceId;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

const TTL: Duration = Duration::from_secs(5);
const MAX_ENTRIES: usize = 10_000;

/// What a `Host` names; in the request's extensions. Today only an
/// instance's own origin; each installed app will get its own origin, a
/// subdomain of its instance (DESIGN §2), as another variant resolved by
/// the same middleware, so that routers choose by origin, never by
/// parsing `Host` themselves.
#[derive(Clone, Debug)]
pub enum Origin {
    /// The instance's own pages, settings and APIs (`/data`, `/auth`…).
    Instance(Arc<InstanceCtx>),
}

impl Origin {
    /// The instance the origin belongs to.
    pub fn instance(&self) -> &Arc<InstanceCtx> {
        match self {
            Origin::Instance(ctx) => ctx,
        }
    }
}

/// The instance a request is for.
#[derive(Clone, Debug)]
pub struct InstanceCtx {
    pub id: InstanceId,
    pub domain: String,
    /// A snapshot of settings, at most `TTL` old (fresher in this process:
    /// changes made here call `forget`). Security decisions (passphrase,
    /// TOTP at login) always read the store, never this.
    pub created_at: i64,
    pub quota_bytes: Option<i64>,
    pub totp_enabled: bool,
}

#[derive(Default)]
pub struct InstanceCache {
    map: RwLock<HashMap<String, (Arc<InstanceCtx>, Instant)>>,
}

impl InstanceCache {
    fn get(&self, host: &str) -> Option<Arc<InstanceCtx>> {
        let map = self.map.read().ok()?;
        map.get(host)
            .filter(|(_, at)| at.elapsed() < TTL)
            .map(|(c, _)| c.clone())
    }

    fn put(&self, host: &str, ctx: Arc<InstanceCtx>) {
        if let Ok(mut map) = self.map.write() {
            if map.len() >= MAX_ENTRIES {
                map.retain(|_, (_, at)| at.elapsed() < TTL);
            }
            map.insert(host.to_owned(), (ctx, Instant::now()));
        }
    }

    /// Forgets an instance at once (it was removed).
    pub fn forget(&self, id: &InstanceId) {
        if let Ok(mut map) = self.map.write() {
            map.retain(|_, (c, _)| c.id != *id);
        }
    }
}

/// Host names are case-insensitive (RFC 9110 §4.2.3).
fn normalize_host(raw: &str) -> String {
    raw.trim().trim_end_matches('.').to_ascii_lowercase()
}

impl AppState {
    /// The instance served at `host` (`name` or `name:port`).
    pub async fn instance_for_host(&self, host: &str) -> Result<Arc<InstanceCtx>, ApiError> {
        let host = normalize_host(host);
        if let Some(ctx) = self.instances.get(&host) {
            return Ok(ctx);
        }
        let mut row = self.store.instance_by_domain(&host).await?;
        if row.is_none()
            && let Some((name, _port)) = host.rsplit_once(':')
        {
            row = self.store.instance_by_domain(name).await?;
        }
        let row = row.ok_or_else(|| ApiError::UnknownInstance(host.clone()))?;
        let ctx = Arc::new(InstanceCtx {
            id: row.id,
            domain: row.domain,
            created_at: row.created_at,
            quota_bytes: row.quota_bytes,
            totp_enabled: row.totp_enabled,
        });
        self.instances.put(&host, ctx.clone());
        Ok(ctx)
    }
}

impl AppState {
    /// Removes an instance (`Docs::remove_instance`) and forgets it in this
    /// process's caches, so it is gone to every request here at once; its
    /// rows and blobs are purged by the remover task meanwhile. False if no
    /// instance has this id.
    pub async fn remove_instance(&self, id: &InstanceId) -> Result<bool, ApiError> {
        let removal = self.docs.remove_instance(id).await?;
        self.instances.forget(id);
        self.auth.forget_instance(id);
        Ok(removal.is_some())
    }
}

/// Middleware: resolves the request's [`Origin`] or answers `404
/// unknown_instance`.
pub async fn resolve(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    match resolved(&state, req, next).await {
        Ok(resp) => resp,
        Err(e) => crate::couch_gate::answer(&path, e),
    }
}

async fn resolved(state: &AppState, mut req: Request, next: Next) -> Result<Response, ApiError> {
    // RFC 9112 §3.2.2: a target in absolute form names the host; Host is
    // then ignored. (`host::require_one_host` has made Host unambiguous.)
    let host = req
        .uri()
        .authority()
        .map(|a| a.as_str())
        .or_else(|| {
            req.headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
        })
        .unwrap_or_default()
        .to_owned();
    if host.is_empty() {
        return Err(ApiError::BadRequest(
            "the request names no host; send a Host header naming your cloud".into(),
        ));
    }
    let ctx = state.instance_for_host(&host).await?;
    req.extensions_mut().insert(Origin::Instance(ctx));
    Ok(next.run(req).await)
}
