//! Accepting connections, with bounds a client cannot talk its way past.
//!
//! axum's own `serve` sets no timer on hyper, so a client that sends its
//! request head one byte at a time holds a connection (and a file
//! descriptor) for ever, and 20,000 such connections from one address
//! stopped a server answering anyone. Here:
//!
//! - a request head must arrive within [`Limits::header_timeout`] (hyper's
//!   `header_read_timeout`, which needs a timer); the connection is
//!   closed otherwise;
//! - at most [`Limits::connections`] connections are served at once (the
//!   next ones wait in the kernel's backlog), below the process's file
//!   limit so that the store and the blobs always have descriptors left;
//! - at most [`Limits::per_address`] of them from one address, so one
//!   client cannot take them all (unless nuage is behind a reverse proxy,
//!   where every connection comes from the proxy and the proxy bounds its
//!   clients).
//!
//! Request bodies have their own deadline ([`Limits::body_deadline`],
//! `deadline.rs`).

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt as _;

/// What a client may hold of the server, and for how long.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Time a client has to send a request's head (request line and
    /// headers).
    pub header_timeout: Duration,
    /// Time a client has to send a whole request body, however large
    /// (64 MiB at 2 Mbit/s fits in the default 300 s), from the server's
    /// first read of it.
    pub body_deadline: Duration,
    /// Connections served at once; `None`: three quarters of the
    /// process's file limit (the rest stays for the store, the blobs and
    /// the logs).
    pub connections: Option<usize>,
    /// Connections from one address at once; `None`: an eighth of
    /// `connections`, or no limit behind a reverse proxy (every connection
    /// comes from the proxy, which bounds its own clients).
    pub per_address: Option<usize>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(30),
            body_deadline: Duration::from_secs(300),
            connections: None,
            per_address: None,
        }
    }
}

impl Limits {
    /// The connection caps for this process: (at once, per address).
    fn caps(&self, behind_proxy: bool) -> (usize, Option<usize>) {
        let connections = self.connections.unwrap_or_else(|| {
            let files = open_files_limit().unwrap_or(1024);
            (files - files / 4).clamp(64, 50_000)
        });
        let per_address = match self.per_address {
            Some(n) => Some(n),
            None if behind_proxy => None,
            None => Some((connections / 8).max(32)),
        };
        (connections, per_address)
    }
}

/// The soft `RLIMIT_NOFILE`, from `/proc/self/limits` (Linux).
fn open_files_limit() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Connections open per client address.
#[derive(Default)]
struct PerAddress(Mutex<HashMap<IpAddr, usize>>);

impl PerAddress {
    /// Counts one more from `ip`, unless it holds `cap` already.
    fn enter(self: &Arc<Self>, ip: IpAddr, cap: Option<usize>) -> Option<AddressSlot> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = map.entry(ip).or_default();
        if cap.is_some_and(|cap| *n >= cap) {
            return None;
        }
        *n += 1;
        Some(AddressSlot {
            map: self.clone(),
            ip,
        })
    }
}

/// One connection's place in [`PerAddress`], given back when it closes.
struct AddressSlot {
    map: Arc<PerAddress>,
    ip: IpAddr,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut map = self.map.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

/// Serves `app` on `listener` until `stop` turns true, then stops
/// accepting, lets the requests in flight finish and returns.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    behind_proxy: bool,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let (connections, per_address_cap) = limits.caps(behind_proxy);
    tracing::debug!(connections, per_address = ?per_address_cap, "connection limits");
    let slots = Arc::new(Semaphore::new(connections));
    let per_address = Arc::new(PerAddress::default());
    // Every connection task holds a clone; `closed()` resolves once all
    // of them have ended.
    let (alive, all_closed) = watch::channel(());
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => p.map_err(std::io::Error::other)?,
            _ = stop.wait_for(|s| *s) => break,
        };
        let (tcp, addr) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of descriptors, or a connection reset before it
                    // was accepted: wait a moment, as axum does.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.wait_for(|s| *s) => break,
        };
        let Some(slot) = per_address.enter(addr.ip(), per_address_cap) else {
            tracing::debug!(client = %addr.ip(), "too many connections from one address; closed");
            continue;
        };
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::trace!(error = %e, "cannot set TCP_NODELAY");
        }
        let app = app
            .clone()
            .map_request(move |mut req: axum::extract::Request| {
                req.extensions_mut().insert(ConnectInfo(addr));
                req
            });
        let mut stop = stop.clone();
        let alive = all_closed.clone();
        tokio::spawn(async move {
            let _held = (permit, slot, alive);
            let service = TowerToHyperService::new(app.map_request(
                |req: axum::http::Request<hyper::body::Incoming>| req.map(axum::body::Body::new),
            ));
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .serve_connection(TokioIo::new(tcp), service)
                .with_upgrades();
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::trace!(error = %e, "connection ended with an error");
                    }
                    return;
                }
                _ = stop.wait_for(|s| *s) => conn.as_mut().graceful_shutdown(),
            }
            if let Err(e) = conn.await {
                tracing::trace!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(all_closed);
    alive.closed().await;
    Ok(())
}
