//! nuage: a personal cloud in one binary. This crate is the command line,
//! the configuration and the wiring; it is the only crate that names the
//! concrete backends.

mod allocator;
mod cli;
mod commands;
mod config;
mod context;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    if matches!(args.command, cli::Command::Serve(_)) {
        allocator::restart_tuned();
    }
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
            eprintln!("nuage: {}", said_once(&e));
            ExitCode::FAILURE
        }
    }
}

/// An error and its causes on one line, outermost first, each said once.
/// `{e:#}` repeats a cause that its wrapper already quotes: thiserror's
/// `#[error("{0}")] X(#[from] Inner)`, `"…: {source}"` with `#[source]`,
/// and sqlx's own errors all both print their cause and return it from
/// `source()`, so one failure read two or three times over.
fn said_once(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if text.is_empty() || line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

#[cfg(test)]
mod tests {
    use std::fmt;

    /// An error that quotes its cause and returns it, as thiserror's `{0}`
    /// wrappers do.
    #[derive(Debug)]
    struct Quoting(std::io::Error);

    impl fmt::Display for Quoting {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "the database could not be opened: {}", self.0)
        }
    }

    impl std::error::Error for Quoting {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn each_cause_is_said_once_and_none_is_lost() {
        let quoting = anyhow::Error::new(Quoting(std::io::Error::other("disk on fire")));
        assert_eq!(
            super::said_once(&quoting),
            "the database could not be opened: disk on fire"
        );
        let wrapped = quoting.context("cannot list instances");
        assert_eq!(
            super::said_once(&wrapped),
            "cannot list instances: the database could not be opened: disk on fire"
        );
        let silent = anyhow::Error::new(std::io::Error::other("refused")).context("cannot connect");
        assert_eq!(super::said_once(&silent), "cannot connect: refused");
    }
}
