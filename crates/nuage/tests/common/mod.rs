//! The end-to-end harness: starts the real `nuage` binary on a fresh
//! database (SQLite or PostgreSQL) and a fresh data folder, and drives it the
//! way people and programs do: a browser with cookies and forms, an app with
//! the `oauth2` crate, the command line, a CouchDB client on `/data` and a
//! WebSocket on `/realtime/`.
//!
//! Must stay true: every scenario runs against its own server process and
//! its own database, so scenarios never see each other's state and can run
//! in parallel; and every wait is bounded, so a broken server fails a test
//! instead of hanging it.

#![allow(
    dead_code,
    unused_imports,
    reason = "every test binary includes the whole harness and uses a different part of it"
)]

mod browser;
mod couch;
mod html;
pub mod oauth;
mod raw;
mod realtime;
mod reply;
mod server;

pub use browser::Browser;
pub use couch::{Couch, DocState, Lines, ids_of, rev_pos};
pub use html::{Form, Page};
pub use nuage_store::Engine;
pub use raw::{answer_until_closed, read_answer, send_raw_http};
pub use realtime::{Frame, Realtime};
pub use reply::{Reply, send};
pub use server::{Server, Sibling, cli_alone};

/// The owner's passphrase in every scenario.
pub const PASSPHRASE: &str = "correct horse battery staple";
/// The admin API secret every test server is started with.
pub const ADMIN_SECRET: &str = "test-admin-secret";
/// The second instance scenarios create with `nuage instance add`; a request
/// for `b.localhost:PORT` falls back to it.
pub const OTHER_HOST: &str = "b.localhost";

/// Runs each named scenario, an `async fn(Server)`, once on SQLite and once
/// on PostgreSQL, each on a server of its own.
#[macro_export]
macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $name() {
                let server = $crate::common::Server::start($crate::common::Engine::Sqlite).await;
                super::$name(server).await
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $name() {
                let server = $crate::common::Server::start($crate::common::Engine::Postgres).await;
                super::$name(server).await
            })*
        }
    };
}

/// [`scenarios!`] on servers started with the configuration `$config`
/// (the name of a `&str` constant of the test file, in TOML), in a module
/// `$group` of their own: `group::sqlite::name`, `group::postgres::name`.
#[macro_export]
macro_rules! configured_scenarios {
    ($group:ident, $config:ident => $($name:ident),* $(,)?) => {
        mod $group {
            mod sqlite {
                $(#[tokio::test]
                async fn $name() {
                    let server = $crate::common::Server::start_configured(
                        $crate::common::Engine::Sqlite,
                        super::super::$config,
                    )
                    .await;
                    super::super::$name(server).await
                })*
            }
            mod postgres {
                $(#[tokio::test]
                async fn $name() {
                    let server = $crate::common::Server::start_configured(
                        $crate::common::Engine::Postgres,
                        super::super::$config,
                    )
                    .await;
                    super::super::$name(server).await
                })*
            }
        }
    };
}
