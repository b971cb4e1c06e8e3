//! From flags, environment and config file to an opened store.

use crate::cli::Global;
use crate::config::{self, Config};
use anyhow::Context as _;
use nuage_auth::Auth;
use nuage_store::{InstanceRow, Store, StoreError};
use std::path::Path;

/// The configuration with every layer applied.
pub fn load(global: &Global) -> anyhow::Result<Config> {
    let mut cfg = match &global.config {
        Some(p) => config::load_file(p)?,
        None => Config::default(),
    };
    if let Some(d) = &global.data {
        cfg.data = d.clone();
    }
    if let Some(u) = &global.database_url {
        cfg.database_url = Some(u.clone());
    }
    if let Some(f) = global.log_format {
        cfg.log_format = f;
    }
    Ok(cfg)
}

/// Creates the data folder (private to its owner) if needed.
pub fn ensure_data_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| {
        format!(
            "cannot create the data folder {}; choose another with --data",
            dir.display()
        )
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    Ok(())
}

pub fn database_url(cfg: &Config) -> String {
    cfg.database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", cfg.data.join("nuage.db").display()))
}

pub async fn open(cfg: &Config) -> anyhow::Result<Auth> {
    let url = database_url(cfg);
    if url.starts_with("sqlite:") {
        ensure_data_dir(&cfg.data)?;
    }
    let store = Store::open(&url, cfg.database.max_connections.max(1))
        .await
        .map_err(|e| match e {
            StoreError::Open { .. } | StoreError::Unreachable { .. } => {
                let named_by = if cfg.database_url.is_some() {
                    "--database-url (or DATABASE_URL, or database_url in the config file)"
                } else {
                    "--data (SQLite in the data folder)"
                };
                anyhow::Error::new(e).context(format!("cannot open the database; check {named_by}"))
            }
            e => e.into(),
        })?;
    Ok(Auth::new(store, cfg.auth.to_auth_config()))
}

pub async fn find_instance(auth: &Auth, domain: &str) -> anyhow::Result<InstanceRow> {
    let d = domain.trim().to_ascii_lowercase();
    auth.store()
        .instance_by_domain(&d)
        .await?
        .with_context(|| format!("no instance {d}; list them with `nuage instance ls`"))
}

/// The document service, with blobs in the data folder.
pub fn docs(cfg: &Config, auth: &Auth) -> nuage_docs::Docs {
    nuage_docs::Docs::new(
        auth.store().clone(),
        nuage_blob::Blobs::new(cfg.data.join("blobs")),
    )
    .with_body_budget(cfg.connections.large_bodies_memory_bytes)
    .with_min_body_rate(cfg.connections.min_body_rate())
    .with_time_budgets(
        std::time::Duration::from_secs(cfg.documents.find_budget_secs),
        std::time::Duration::from_secs(cfg.documents.changes_search_secs),
    )
}
