//! `nuage app-password …`

use crate::cli::AppPasswordCmd;
use crate::config::Config;
use crate::context;
use nuage_auth::NewAppPassword;

pub async fn run(cfg: &Config, cmd: AppPasswordCmd) -> anyhow::Result<()> {
    let auth = context::open(cfg).await?;
    match cmd {
        AppPasswordCmd::Add {
            domain,
            name,
            scope,
        } => {
            let row = context::find_instance(&auth, &domain).await?;
            let (created, password) = auth
                .create_app_password(&row.id, &NewAppPassword { name, scope })
                .await?;
            eprintln!(
                "app password \"{}\" ({}) for {}; it is shown only now:",
                created.name, created.id, row.domain
            );
            println!("{password}");
        }
        AppPasswordCmd::Ls { domain } => {
            let row = context::find_instance(&auth, &domain).await?;
            for p in auth.list_app_passwords(&row.id).await? {
                let used = p
                    .last_used_at
                    .map(|t| t.to_string())
                    .unwrap_or_else(|| "never".into());
                println!("{}\t{}\t{}\tlast used: {used}", p.id, p.name, p.scope);
            }
        }
        AppPasswordCmd::Rm { domain, id } => {
            let row = context::find_instance(&auth, &domain).await?;
            auth.revoke_app_password(&row.id, &id).await?;
            println!("revoked {id}");
        }
    }
    Ok(())
}
