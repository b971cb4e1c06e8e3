//! `nuage serve`: open the store, bind, create the first instance on the
//! very first start, serve until a signal.

use crate::cli::ServeArgs;
use crate::config::Config;
use crate::context;
use anyhow::Context as _;
use nuage_auth::Auth;
use nuage_store::{Stopping, Task, sleep_or_stop};
use nuage_web::{AppState, WebConfig};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
use tokio::net::TcpListener;

pub async fn run(cfg: Config, args: ServeArgs) -> anyhow::Result<()> {
    let listen = args.listen.unwrap_or_else(|| cfg.listen.clone());
    let admin_listen = args
        .admin_listen
        .or_else(|| std::env::var("NUAGE_ADMIN_LISTEN").ok())
        .unwrap_or_else(|| cfg.admin.listen.clone());
    let auth = context::open(&cfg).await?;
    let public = bind(&listen, "--listen").await?;
    let admin = bind(&admin_listen, "--admin-listen").await?;
    let public_addr = public.local_addr()?;
    let admin_addr = admin.local_addr()?;
    let admin_secret = admin_secret(&cfg)?;

    let onboarding = first_start(&auth, public_addr).await?;
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .map_err(|e| tracing::warn!(error = %e, "metrics disabled"))
        .ok();
    let mut tasks: Vec<Task> = Vec::new();
    if let Some(h) = metrics.clone() {
        tasks.push(Task::spawn("metrics_upkeep", |mut stopping| async move {
            // The exporter holds every histogram sample until upkeep drains
            // it: at tens of thousands of requests a second, draining every
            // 5 s held ~10 MB (bench/README.md); every 500 ms holds ~1 MB.
            while !sleep_or_stop(&mut stopping, Duration::from_millis(500)).await {
                h.run_upkeep();
            }
        }));
    }
    if crate::allocator::CAN_GIVE_BACK {
        tasks.push(Task::spawn(
            "allocator_give_back",
            |mut stopping| async move {
                while !sleep_or_stop(&mut stopping, crate::allocator::GIVE_BACK_EVERY).await {
                    let _ = tokio::task::spawn_blocking(crate::allocator::give_back).await;
                }
            },
        ));
    }
    let web = WebConfig {
        https: cfg.https,
        body_limit: cfg.body_limit_bytes,
        trust_forwarded_for: cfg.trust_forwarded_for,
        admin_secret,
        limits: cfg.connections.to_limits(),
    };
    tasks.extend(auth.store().start_event_listener().await);
    tasks.extend(auth.store().start_checkpointer());
    let docs = context::docs(&cfg, &auth);
    // Finishes removals left to it by the admin API, by a crash or by
    // another process.
    let remover = nuage_docs::Remover::start(docs.clone());
    // Deletes blobs no revision references any more.
    let collector = nuage_docs::BlobCollector::start(docs.clone());
    let state = AppState::new(auth.clone(), docs, web, metrics);
    println!("nuage: listening on http://{public_addr}");
    println!("nuage: admin API on http://{admin_addr}");
    if let Some(token) = onboarding {
        println!(
            "nuage: open {}/auth/onboarding?token={token} to choose the owner's passphrase",
            state.base_url(&domain_for(public_addr))
        );
    }
    tracing::info!(%public_addr, %admin_addr, engine = ?auth.store().engine(), "nuage is serving");
    let purger = auth.clone();
    tasks.push(Task::spawn("purge_expired", |stopping| {
        purge_expired(purger, stopping)
    }));
    let builder = nuage_store::IndexBuilder::start(auth.store().clone());
    nuage_web::serve(state, public, Some(admin), shutdown_signal()).await?;
    builder.shutdown().await;
    remover.shutdown().await;
    collector.shutdown().await;
    for task in tasks {
        task.shutdown().await;
    }
    auth.store().close().await;
    tracing::info!("stopped");
    Ok(())
}

async fn bind(addr: &str, flag: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}; is another server using it? Choose another address with {flag}"))
}

/// The domain of the instance made on first start: the address it listens
/// on, as people type it (`localhost:8080` for loopback or all interfaces).
fn domain_for(addr: SocketAddr) -> String {
    let ip = addr.ip();
    if ip.is_loopback() || ip.is_unspecified() {
        format!("localhost:{}", addr.port())
    } else {
        addr.to_string()
    }
}

/// On the very first start, with no instance at all, creates one for the
/// listening address and returns its onboarding token.
async fn first_start(auth: &Auth, addr: SocketAddr) -> anyhow::Result<Option<String>> {
    if auth.store().count_instances().await? > 0 {
        return Ok(None);
    }
    let (_, token) = auth.create_instance(&domain_for(addr), None, None).await?;
    Ok(token)
}

/// The admin API secret: configured, from the environment, or generated
/// once into the data folder (readable by its owner only).
fn admin_secret(cfg: &Config) -> anyhow::Result<String> {
    if let Some(s) = cfg
        .admin
        .secret
        .clone()
        .or_else(|| std::env::var("NUAGE_ADMIN_SECRET").ok())
    {
        return Ok(s);
    }
    context::ensure_data_dir(&cfg.data)?;
    let path = cfg.data.join("admin-secret");
    if let Ok(s) = std::fs::read_to_string(&path) {
        return Ok(s.trim().to_owned());
    }
    let secret = nuage_auth::secret::generate("nas_");
    write_private(&path, &secret).with_context(|| format!("cannot write {}", path.display()))?;
    tracing::info!(path = %path.display(), "generated the admin API secret");
    Ok(secret)
}

fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(content.as_bytes())?;
    f.sync_all()
}

async fn purge_expired(auth: Auth, mut stopping: Stopping) {
    while !sleep_or_stop(&mut stopping, Duration::from_secs(3600)).await {
        let now = nuage_store::now_ms();
        let s = auth.store().purge_expired_sessions(now).await;
        let t = auth.store().purge_expired_tokens(now).await;
        let c = auth.store().purge_expired_codes(now).await;
        if let (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) = (&s, &t, &c) {
            tracing::warn!(error = %e, "purging expired credentials failed; will retry in an hour");
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down: finishing requests in flight");
}
