//! `nuage instance …`

use crate::cli::InstanceCmd;
use crate::config::Config;
use crate::context;
use anyhow::{Context as _, bail};
use nuage_store::InstanceRow;
use std::io::{BufRead, IsTerminal, Write};

fn base_url(cfg: &Config, domain: &str) -> String {
    format!("{}://{domain}", if cfg.https { "https" } else { "http" })
}

fn describe(row: &InstanceRow) -> String {
    format!(
        "domain:     {}\nid:         {}\ncreated:    {} (ms since epoch)\nquota:      {}\nonboarded:  {}\ntwo-factor: {}\n",
        row.domain,
        row.id,
        row.created_at,
        row.quota_bytes
            .map(|q| format!("{q} bytes"))
            .unwrap_or_else(|| "none".into()),
        if row.onboarded() {
            "yes"
        } else {
            "no (waiting for the onboarding link)"
        },
        if row.totp_enabled { "on" } else { "off" },
    )
}

pub async fn run(cfg: &Config, cmd: InstanceCmd) -> anyhow::Result<()> {
    let auth = context::open(cfg).await?;
    match cmd {
        InstanceCmd::Add {
            domain,
            passphrase_stdin,
            quota,
        } => {
            let passphrase = if passphrase_stdin {
                let mut line = String::new();
                std::io::stdin()
                    .lock()
                    .read_line(&mut line)
                    .context("cannot read the passphrase from standard input")?;
                Some(line.trim_end_matches(['\n', '\r']).to_owned())
            } else {
                None
            };
            let (row, token) = auth
                .create_instance(&domain, quota, passphrase.as_deref())
                .await?;
            match token {
                Some(t) => println!(
                    "created {}; the owner chooses a passphrase at {}/auth/onboarding?token={t}",
                    row.domain,
                    base_url(cfg, &row.domain)
                ),
                None => println!("created {}", row.domain),
            }
        }
        InstanceCmd::Ls => {
            let rows = auth.store().list_instances().await?;
            if rows.is_empty() {
                eprintln!("no instance yet; create one with `nuage instance add DOMAIN`");
            }
            for r in rows {
                println!(
                    "{}\t{}\t{}",
                    r.domain,
                    r.id,
                    if r.onboarded() {
                        "onboarded"
                    } else {
                        "waiting for onboarding"
                    }
                );
            }
        }
        InstanceCmd::Show { domain } => {
            print!(
                "{}",
                describe(&context::find_instance(&auth, &domain).await?)
            );
        }
        InstanceCmd::Rm { domain, yes } => {
            let row = context::find_instance(&auth, &domain).await?;
            if !yes {
                if !std::io::stdin().is_terminal() {
                    bail!(
                        "removing {} deletes all its data; pass --yes to confirm from a script",
                        row.domain
                    );
                }
                eprint!(
                    "This deletes {} and ALL its data. Type the domain to confirm: ",
                    row.domain
                );
                std::io::stderr().flush()?;
                let mut line = String::new();
                std::io::stdin().lock().read_line(&mut line)?;
                if line.trim() != row.domain {
                    bail!("not confirmed; nothing was removed");
                }
            }
            auth.remove_instance(&row).await?;
            context::docs(cfg, &auth)
                .delete_instance_blobs(&row.id)
                .await?;
            println!("removed {}", row.domain);
        }
        InstanceCmd::Onboarding { domain } => {
            let row = context::find_instance(&auth, &domain).await?;
            let token = auth.new_onboarding_token(&row.id).await?;
            if row.onboarded() {
                eprintln!(
                    "note: {} already has a passphrase; the link lets its owner choose a new one only after the current one is cleared",
                    row.domain
                );
            }
            println!(
                "{}/auth/onboarding?token={token}",
                base_url(cfg, &row.domain)
            );
        }
    }
    Ok(())
}
