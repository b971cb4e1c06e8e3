//! Opening the database: the engine is chosen by the URL's scheme.

use crate::{EventBus, Result, Store, StoreError, migrate};
use sqlx::Executor;
use sqlx::any::AnyPoolOptions;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    pub fn from_url(url: &str) -> Option<Engine> {
        if url.starts_with("sqlite:") {
            Some(Engine::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Engine::Postgres)
        } else {
            None
        }
    }
}

impl Store {
    /// Opens (creating if needed) and migrates the database at `url`.
    /// `max_connections` bounds the pool; SQLite serialises writers anyway,
    /// so a few connections serve it best.
    pub async fn open(url: &str, max_connections: u32) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let engine = Engine::from_url(url).ok_or_else(|| StoreError::Open {
            url: url.to_owned(),
            source: sqlx::Error::Configuration(
                "use sqlite://PATH or postgres://USER@HOST/DB".into(),
            ),
        })?;
        let opts = AnyPoolOptions::new()
            .max_connections(max_connections)
            .min_connections(0)
            .idle_timeout(Some(Duration::from_secs(300)))
            .acquire_timeout(Duration::from_secs(10));
        let opts = if engine == Engine::Sqlite {
            opts.after_connect(|conn, _| {
                Box::pin(async move {
                    // WAL lets readers run beside the writer; synchronous=FULL
                    // makes an acknowledged commit survive a power cut
                    // (DESIGN §3); busy_timeout lets the CLI and a running
                    // server share the file.
                    conn.execute(
                        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; \
                         PRAGMA busy_timeout=10000; PRAGMA foreign_keys=ON;",
                    )
                    .await?;
                    Ok(())
                })
            })
        } else {
            opts
        };
        let url_for_open = if engine == Engine::Sqlite && !url.contains("mode=") {
            let sep = if url.contains('?') { '&' } else { '?' };
            format!("{url}{sep}mode=rwc")
        } else {
            url.to_owned()
        };
        let pool = opts
            .connect(&url_for_open)
            .await
            .map_err(|source| StoreError::Open {
                url: redact(url),
                source,
            })?;
        let store = Store {
            pool,
            engine,
            write_lock: Default::default(),
            events: EventBus::new(),
            url: url.into(),
            analyze: Default::default(),
            index_wake: Default::default(),
            group: None,
        };
        migrate::run(&store).await?;
        let mut store = store;
        if engine == Engine::Sqlite {
            // PostgreSQL groups concurrent commits itself; SQLite needs help.
            store.group = Some(std::sync::Arc::new(crate::docs::group::GroupWriter::start(
                store.clone(),
            )));
        }
        Ok(store)
    }

    pub(crate) fn pool(&self) -> &sqlx::AnyPool {
        &self.pool
    }
}

/// Hides a password in a URL before it reaches a log or an error.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            super::redact("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(super::redact("postgres://u@h/db"), "postgres://u@h/db");
    }
}
