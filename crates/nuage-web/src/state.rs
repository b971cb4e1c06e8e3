//! What every handler shares.

use crate::instances::InstanceCache;
use metrics_exporter_prometheus::PrometheusHandle;
use nuage_auth::Auth;
use nuage_docs::Docs;
use nuage_store::Store;
use std::sync::Arc;

/// Settings of the HTTP layer, filled from the server configuration.
#[derive(Clone, Debug)]
pub struct WebConfig {
    /// Set when nuage is reached over HTTPS (directly or behind a proxy):
    /// cookies get `Secure`, URLs shown to people use `https://`.
    pub https: bool,
    /// Largest request body accepted by the JSON and form APIs.
    pub body_limit: usize,
    /// Use the last address of `X-Forwarded-For` as the client address
    /// (only behind a reverse proxy that sets it).
    pub trust_forwarded_for: bool,
    /// The admin API's bearer secret.
    pub admin_secret: String,
    /// Connection and body timeouts and caps.
    pub limits: crate::listen::Limits,
}

#[derive(Clone)]
pub struct AppState {
    pub auth: Auth,
    pub docs: Docs,
    pub store: Store,
    pub config: Arc<WebConfig>,
    pub instances: Arc<InstanceCache>,
    pub metrics: Option<PrometheusHandle>,
    /// Becomes true when the server shuts down: live feeds and WebSockets
    /// end then, so a graceful shutdown never waits on a client.
    stopping: Arc<tokio::sync::watch::Sender<bool>>,
}

impl AppState {
    pub fn new(
        auth: Auth,
        docs: Docs,
        config: WebConfig,
        metrics: Option<PrometheusHandle>,
    ) -> AppState {
        AppState {
            store: auth.store().clone(),
            auth,
            docs,
            config: Arc::new(config),
            instances: Arc::new(InstanceCache::default()),
            metrics,
            stopping: Arc::new(tokio::sync::watch::channel(false).0),
        }
    }

    /// Watches for shutdown (see `stopping`).
    pub fn stopping(&self) -> tokio::sync::watch::Receiver<bool> {
        self.stopping.subscribe()
    }

    /// Starts the shutdown of everything long-lived.
    pub fn stop(&self) {
        self.stopping.send_replace(true);
    }

    /// The public base URL of an instance, for links shown to people.
    pub fn base_url(&self, domain: &str) -> String {
        let scheme = if self.config.https { "https" } else { "http" };
        format!("{scheme}://{domain}")
    }
}
