//! The command line, as clap sees it.

use crate::config::LogFormat;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "nuage",
    version,
    about = "Your personal cloud: calendars, contacts, files, photos and mail on a machine you control"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes: where the data is.
#[derive(Args, Debug, Clone)]
pub struct Global {
    /// Data folder (SQLite database, blobs, admin secret) [default: ./nuage-data]
    #[arg(long, env = "NUAGE_DATA", global = true)]
    pub data: Option<PathBuf>,
    /// Database URL: sqlite://PATH or postgres://USER@HOST/DB [default: SQLite in the data folder]
    #[arg(long, env = "DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// TOML configuration file (see `nuage config example`)
    #[arg(long, env = "NUAGE_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Log format
    #[arg(long, env = "NUAGE_LOG_FORMAT", global = true)]
    pub log_format: Option<LogFormat>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server
    Serve(ServeArgs),
    /// Configuration helpers
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Manage instances (one person's cloud each)
    #[command(subcommand)]
    Instance(InstanceCmd),
    /// Manage app passwords (for DAV clients and scripts)
    #[command(subcommand, name = "app-password")]
    AppPassword(AppPasswordCmd),
    /// Print a short-lived bearer token, alone on stdout
    Token {
        domain: String,
        /// Permissions, e.g. `io.nuage.contacts:GET io.nuage.files:ALL`
        #[arg(long)]
        scope: String,
        /// Lifetime in seconds, from 1 to 2592000 (30 days)
        #[arg(long, default_value_t = 3600)]
        ttl: u64,
    },
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Public address [default: 127.0.0.1:8080]
    #[arg(long, env = "NUAGE_LISTEN")]
    pub listen: Option<String>,
    /// Admin API address (keep it on loopback) [default: 127.0.0.1:8081]
    #[arg(long, env = "NUAGE_ADMIN_LISTEN")]
    pub admin_listen: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum ConfigCmd {
    /// Print a commented example configuration with every default
    Example,
}

#[derive(Subcommand, Debug)]
pub enum InstanceCmd {
    /// Create an instance; prints the onboarding link unless a passphrase is given
    Add {
        domain: String,
        /// Read the owner's passphrase from standard input instead
        #[arg(long)]
        passphrase_stdin: bool,
        /// Storage quota in bytes
        #[arg(long)]
        quota: Option<i64>,
    },
    /// List instances
    Ls,
    /// Show one instance
    Show { domain: String },
    /// Remove an instance and all its data
    Rm {
        domain: String,
        /// Do not ask for confirmation
        #[arg(long)]
        yes: bool,
    },
    /// Print a new onboarding link (to set the passphrase again)
    Onboarding { domain: String },
}

#[derive(Subcommand, Debug)]
pub enum AppPasswordCmd {
    /// Create an app password; prints it alone on stdout, once
    Add {
        domain: String,
        #[arg(long)]
        name: String,
        /// Permissions, e.g. `io.nuage.contacts:ALL`
        #[arg(
            long,
            default_value = "io.nuage.files:ALL io.nuage.contacts:ALL io.nuage.calendar.*:ALL"
        )]
        scope: String,
    },
    /// List app passwords with their last use
    Ls { domain: String },
    /// Revoke an app password
    Rm { domain: String, id: String },
}
