//! One module per command.

mod app_password;
mod instance;
mod serve;
mod token;

use crate::cli::{Cli, Command, ConfigCmd};
use crate::config::LogFormat;
use crate::context;
use tracing_subscriber::EnvFilter;

pub async fn run(args: Cli) -> anyhow::Result<()> {
    let cfg = context::load(&args.global)?;
    // The server logs at info; other commands keep stderr quiet unless asked.
    let default_level = if matches!(args.command, Command::Serve(_)) {
        "info"
    } else {
        "warn"
    };
    init_logging(cfg.log_format, default_level);
    match args.command {
        Command::Serve(s) => serve::run(cfg, s).await,
        Command::Config(ConfigCmd::Example) => {
            print!("{}", crate::config::example());
            Ok(())
        }
        Command::Instance(cmd) => instance::run(&cfg, cmd).await,
        Command::AppPassword(cmd) => app_password::run(&cfg, cmd).await,
        Command::Token { domain, scope, ttl } => token::run(&cfg, &domain, &scope, ttl).await,
    }
}

fn init_logging(format: LogFormat, default_level: &str) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{default_level},sqlx=warn")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
