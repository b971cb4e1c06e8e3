//! Opening the database: the engine is chosen by the URL's scheme.

use crate::pool::{Pool, PoolConfig, Setup, Tx};
use crate::{EventBus, Result, Store, StoreError, migrate};
use sqlx::{AnyConnection, Connection, Executor};
use std::time::Duration;
use tokio::time::Instant;

/// How long the first connection to PostgreSQL may take at start-up. A
/// refused connection is tried again within it (a server still starting
/// gets these seconds); then the error names the URL and the reason,
/// instead of the pool's "timed out" after its 10 s acquire timeout.
const FIRST_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

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
            url: redact(url),
            source: sqlx::Error::Configuration(
                "use sqlite://PATH or postgres://USER@HOST/DB".into(),
            ),
        })?;
        if engine == Engine::Postgres {
            first_connection(url).await.map_err(|source| match source {
                // Nothing (or not PostgreSQL) answered there.
                sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::Protocol(_) => {
                    StoreError::Unreachable {
                        url: redact(url),
                        source,
                    }
                }
                // PostgreSQL answered, and said no (role, database, password).
                source => StoreError::Open {
                    url: redact(url),
                    source,
                },
            })?;
        }
        let url_for_open = if engine == Engine::Sqlite && !url.contains("mode=") {
            let sep = if url.contains('?') { '&' } else { '?' };
            format!("{url}{sep}mode=rwc")
        } else {
            url.to_owned()
        };
        let open = |config: PoolConfig| {
            let url = &url_for_open;
            async move {
                Pool::connect(url, config)
                    .await
                    .map_err(|source| StoreError::Open {
                        url: redact(url),
                        source,
                    })
            }
        };
        let pool = open(pool_config(engine, max_connections, Sync::Full)).await?;
        // PostgreSQL: one pool for everything (clones share it).
        let (writer, relaxed) = if engine == Engine::Sqlite {
            (
                open(pool_config(engine, 1, Sync::Full)).await?,
                open(pool_config(engine, 1, Sync::Normal)).await?,
            )
        } else {
            (pool.clone(), pool.clone())
        };
        let store = Store {
            pool,
            writer,
            relaxed,
            engine,
            write_lock: Default::default(),
            events: EventBus::new(),
            url: url.into(),
            analyze: Default::default(),
            index_wake: Default::default(),
            removal_wake: Default::default(),
            group: None,
            #[cfg(feature = "testing")]
            pause: Default::default(),
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

    pub(crate) fn pool(&self) -> &Pool {
        &self.pool
    }

    /// A transaction that will write. On SQLite it takes the write lock at
    /// once (`BEGIN IMMEDIATE`), so it waits its turn (busy_timeout) rather
    /// than failing with SQLITE_BUSY when it first reads and another process
    /// (the CLI, a second server) commits before it writes; and it always
    /// runs on the same connection (every caller holds the write guard, so
    /// one is enough): SQLite empties a connection's page cache when
    /// another connection has written since its last transaction, so a
    /// writer that is always the same one keeps the upper pages of every
    /// B-tree cached, however big the store grows.
    pub(crate) async fn begin_write(&self) -> std::result::Result<Tx, sqlx::Error> {
        self.begin_on(&self.writer).await
    }

    /// A write transaction whose commit does not wait for the disk: for
    /// what may be lost in a power cut without losing data (a replication
    /// checkpoint: losing one costs the replicator one batch again). A
    /// process that dies loses nothing, and the durable state is still a
    /// prefix of the commits (SQLite's WAL and PostgreSQL's WAL are both
    /// synced in order), so such a commit is durable at the latest with the
    /// next ordinary one. The caller holds the write guard, as for
    /// [`Store::begin_write`].
    pub(crate) async fn begin_write_relaxed(&self) -> std::result::Result<Tx, sqlx::Error> {
        // SQLite: a connection of its own with synchronous=NORMAL (the
        // setting cannot change inside a transaction); PostgreSQL: this
        // transaction's commit only.
        let mut tx = self.begin_on(&self.relaxed).await?;
        if self.engine == Engine::Postgres {
            (&mut *tx)
                .execute("SET LOCAL synchronous_commit = off")
                .await?;
        }
        Ok(tx)
    }

    async fn begin_on(&self, pool: &Pool) -> std::result::Result<Tx, sqlx::Error> {
        match self.engine {
            Engine::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await,
            Engine::Postgres => pool.begin().await,
        }
    }
}

#[derive(Clone, Copy)]
enum Sync {
    Full,
    Normal,
}

/// A pooled connection idle longer than this is pinged before it is used.
const PING_IDLE_AFTER: Duration = Duration::from_secs(1);

fn pool_config(engine: Engine, max_connections: u32, sync: Sync) -> PoolConfig {
    PoolConfig {
        max: max_connections,
        setup: setup(engine, sync),
        acquire_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(300),
        // A connection in steady use is known alive; only one idle for a
        // while (a restarted server, a dropped socket) is tried first.
        ping_idle_after: PING_IDLE_AFTER,
        // SQLite's writer (a pool of one) keeps its connection and page
        // cache however long the server rests.
        min_idle: usize::from(engine == Engine::Sqlite && max_connections == 1),
    }
}

/// What every new connection runs first.
fn setup(engine: Engine, sync: Sync) -> Setup {
    if engine != Engine::Sqlite {
        return None;
    }
    // WAL lets readers run beside the writer; synchronous=FULL makes an
    // acknowledged commit survive a power cut (DESIGN §3), NORMAL only a
    // killed process (see `begin_write_relaxed`); busy_timeout lets the
    // CLI and a running server share the file; journal_size_limit
    // truncates the WAL back to 32 MiB after each checkpoint that resets
    // it, so one burst does not leave a huge file. soft_heap_limit
    // (process-wide) keeps SQLite's own memory near 8 MiB: the ten
    // connections' page caches (2 MiB each by default) otherwise fill as
    // the file grows, 6 -> 11 MB (16 MB at its peak) in the soak's first
    // minutes; the kernel's page cache holds the file anyway.
    Some(match sync {
        Sync::Full => {
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; \
             PRAGMA busy_timeout=10000; PRAGMA foreign_keys=ON; \
             PRAGMA journal_size_limit=33554432; PRAGMA soft_heap_limit=8388608;"
        }
        Sync::Normal => {
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; \
             PRAGMA busy_timeout=10000; PRAGMA foreign_keys=ON; \
             PRAGMA journal_size_limit=33554432; PRAGMA soft_heap_limit=8388608;"
        }
    })
}

/// Connects to PostgreSQL once, within [`FIRST_CONNECT_TIMEOUT`], to learn
/// why it can't be reached: the pool retries a refused connection until its
/// acquire timeout and then reports only that it timed out.
async fn first_connection(url: &str) -> Result<(), sqlx::Error> {
    let deadline = Instant::now() + FIRST_CONNECT_TIMEOUT;
    let mut pause = Duration::from_millis(50);
    loop {
        let last = match tokio::time::timeout_at(deadline, AnyConnection::connect(url)).await {
            Ok(Ok(conn)) => return conn.close().await,
            Ok(Err(e)) => e,
            Err(_) => {
                return Err(sqlx::Error::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no answer within {} s", FIRST_CONNECT_TIMEOUT.as_secs()),
                )));
            }
        };
        let starting = match &last {
            sqlx::Error::Io(e) => e.kind() == std::io::ErrorKind::ConnectionRefused,
            // 57P03 cannot_connect_now: "the database system is starting up".
            sqlx::Error::Database(e) => e.code().as_deref() == Some("57P03"),
            _ => false,
        };
        if !starting || Instant::now() + pause >= deadline {
            return Err(last);
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}

/// Hides a password in a URL before it reaches a log or an error: the
/// userinfo's (`user:pw@`) and a `password=` query parameter's.
fn redact(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let mut out = match (base.find("://"), base.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &base[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &base[..s + 3], &creds[..c], &base[at..]),
                None => base.to_owned(),
            }
        }
        _ => base.to_owned(),
    };
    if let Some(q) = query {
        let pairs: Vec<String> = q
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => kv.to_owned(),
            })
            .collect();
        out.push('?');
        out.push_str(&pairs.join("&"));
    }
    out
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
        assert_eq!(
            super::redact("postgres://u@h/db?sslmode=require&password=secret"),
            "postgres://u@h/db?sslmode=require&password=***"
        );
        assert_eq!(
            super::redact("sqlite:///var/lib/nuage/nuage.db?mode=rwc"),
            "sqlite:///var/lib/nuage/nuage.db?mode=rwc"
        );
    }
}
