//! HTTP assembly: routing by host, middleware (request ids, logs, metrics,
//! body limits), pages, the one error mapping, and the admin API.
//!
//! Must stay true: handlers are thin (extract, call one domain function,
//! map the result); rules live in nuage-auth and nuage-core.

mod admin;
mod cookies;
mod couch_gate;
mod csrf;
mod deadline;
mod error;
mod extract;
mod host;
mod instances;
pub mod listen;
mod middleware;
mod pages;
mod realtime;
mod routes;
mod state;

pub use admin::admin_router;
pub use error::ApiError;
pub use state::{AppState, WebConfig};

use axum::Router;
use std::future::Future;
use tokio::net::TcpListener;

/// Largest body the JSON and form APIs accept (1 MiB).
pub const DEFAULT_BODY_LIMIT: usize = 1 << 20;

/// The public application with every middleware layer.
pub fn public_app(state: AppState) -> Router {
    let (limit, deadline) = (state.config.body_limit, state.config.limits.body_deadline);
    middleware::wrap(routes::public_router(state), limit, deadline)
}

/// The admin application with every middleware layer.
pub fn admin_app(state: AppState) -> Router {
    let deadline = state.config.limits.body_deadline;
    middleware::wrap(admin_router(state), DEFAULT_BODY_LIMIT, deadline)
}

/// Serves the public and admin listeners until `shutdown` resolves, then
/// stops accepting and lets requests in flight finish.
pub async fn serve(
    state: AppState,
    public: TcpListener,
    admin: Option<TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let rx = state.stopping();
    let limits = state.config.limits;
    let proxied = state.config.trust_forwarded_for;
    let public = listen::serve(
        public,
        public_app(state.clone()),
        limits,
        proxied,
        rx.clone(),
    );
    let admin =
        admin.map(|l| listen::serve(l, admin_app(state.clone()), limits, false, rx.clone()));
    let stopper = state.clone();
    tokio::spawn(async move {
        shutdown.await;
        stopper.stop();
    });
    match admin {
        Some(admin) => {
            let (a, b) = tokio::join!(public, admin);
            a.and(b)
        }
        None => public.await,
    }
}
