//! nuage: a personal cloud in one binary. This crate is the command line,
//! the configuration and the wiring; it is the only crate that names the
//! concrete backends.

mod cli;
mod commands;
mod config;
mod context;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("nuage: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nuage: {e:#}");
            ExitCode::FAILURE
        }
    }
}
