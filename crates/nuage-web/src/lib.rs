//! HTTP assembly: routing by host, middleware (request ids, logs, metrics,
//! body limits), pages, the one error mapping, and the admin API.
//!
//! Must stay true: handlers are thin (extract, call one domain function,
//! map the result); rules live in nuage-auth and nuage-core.

mod admin;
mod cookies;
mod couch_gate;
mod csrf;
mod error;
mod extract;
mod host;
mod instances;
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
use std::net::SocketAddr;
use tokio::net::TcpListener;

/// Largest body the JSON and form APIs accept (1 MiB).
pub const DEFAULT_BODY_LIMIT: usize = 1 << 20;

/// The public application with every middleware layer.
pub fn public_app(state: AppState) -> Router {
    let limit = state.config.body_limit;
    middleware::wrap(routes::public_router(state), limit)
}

/// The admin application with every middleware layer.
pub fn admin_app(state: AppState) -> Router {
    middleware::wrap(admin_router(state), DEFAULT_BODY_LIMIT)
}

/// Sets TCP_NODELAY on every accepted connection: answers go out at once
/// instead of waiting for the client's acknowledgement of an earlier
/// segment (Nagle), which costs request/response protocols dearly.
fn nodelay(l: TcpListener) -> axum::serve::TapIo<TcpListener, fn(&mut tokio::net::TcpStream)> {
    use axum::serve::ListenerExt;
    fn set(tcp: &mut tokio::net::TcpStream) {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::trace!(error = %e, "cannot set TCP_NODELAY");
        }
    }
    l.tap_io(set as fn(&mut tokio::net::TcpStream))
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
    let wait = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let public_app = public_app(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let public = axum::serve(nodelay(public), public_app).with_graceful_shutdown(wait(rx.clone()));
    let admin = admin.map(|l| {
        let app = admin_app(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(nodelay(l), app).with_graceful_shutdown(wait(rx.clone()))
    });
    let stopper = state.clone();
    tokio::spawn(async move {
        shutdown.await;
        stopper.stop();
    });
    match admin {
        Some(admin) => {
            let (a, b) = tokio::join!(public.into_future(), admin.into_future());
            a.and(b)
        }
        None => public.await,
    }
}
