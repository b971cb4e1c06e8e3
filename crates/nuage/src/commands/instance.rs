//! `nuage instance …`

use crate::cli::InstanceCmd;
use crate::config::Config;
use crate::context;
use anyhow::{Context as _, bail};
use nuage_docs::RemovalProgress;
use nuage_store::InstanceRow;
use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

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
            remove(cfg, &auth, &row).await?;
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

/// Removes the instance, then purges its data here, showing progress on
/// stderr; returns once nothing of it is left.
async fn remove(cfg: &Config, auth: &nuage_auth::Auth, row: &InstanceRow) -> anyhow::Result<()> {
    let docs = context::docs(cfg, auth);
    let removal = docs
        .remove_instance(&row.id)
        .await?
        .with_context(|| format!("{} was removed meanwhile", row.domain))?;
    eprintln!(
        "{} is gone: its domain is free and no credential of it works; purging its data \
         (if interrupted, `nuage serve` finishes it)",
        row.domain
    );
    let mut shown = Progress::new(&row.domain);
    removal.finish(|p| shown.update(p)).await.with_context(|| {
        format!(
            "purging the data of {} failed; `nuage serve` finishes it when it runs",
            row.domain
        )
    })?;
    println!("removed {}", row.domain);
    Ok(())
}

/// Progress on stderr: one line rewritten in place on a terminal, else a
/// line every few seconds (and the last), so logs stay short.
struct Progress<'a> {
    domain: &'a str,
    terminal: bool,
    last: Option<std::time::Instant>,
}

impl<'a> Progress<'a> {
    fn new(domain: &'a str) -> Progress<'a> {
        Progress {
            domain,
            terminal: std::io::stderr().is_terminal(),
            last: None,
        }
    }

    fn update(&mut self, p: RemovalProgress) {
        let every = if self.terminal {
            Duration::from_millis(100)
        } else {
            Duration::from_secs(2)
        };
        let text = match p {
            RemovalProgress::Rows { done, total } => {
                if self.last.is_some_and(|t| t.elapsed() < every) {
                    return;
                }
                let total = total.max(done);
                let percent = (done * 100).checked_div(total).unwrap_or(100);
                format!(
                    "{}: {done} of {total} rows purged ({percent} %)",
                    self.domain
                )
            }
            RemovalProgress::Blobs => format!("{}: every row purged; deleting blobs", self.domain),
            RemovalProgress::Done => format!("{}: nothing left", self.domain),
        };
        self.last = Some(std::time::Instant::now());
        let mut err = std::io::stderr().lock();
        let _ = if self.terminal {
            let end = if p == RemovalProgress::Done { "\n" } else { "" };
            write!(err, "\r\x1b[2K{text}{end}")
        } else {
            writeln!(err, "{text}")
        };
        let _ = err.flush();
    }
}
