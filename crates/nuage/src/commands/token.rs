//! `nuage token DOMAIN --scope SCOPE`: a bearer token, alone on stdout.

use crate::config::Config;
use crate::context;
use std::time::Duration;

pub async fn run(cfg: &Config, domain: &str, scope: &str, ttl: u64) -> anyhow::Result<()> {
    let auth = context::open(cfg).await?;
    let row = context::find_instance(&auth, domain).await?;
    let token = auth
        .issue_cli_token(&row.id, scope, Duration::from_secs(ttl))
        .await?;
    println!("{token}");
    Ok(())
}
