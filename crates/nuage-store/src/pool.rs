//! The store's connection pool.
//!
//! sqlx's own pool tests every connection given back to it with a round
//! trip (a `Sync` on PostgreSQL, a command to the worker thread on SQLite),
//! because a future dropped in the middle of a query may leave it half
//! read. On PostgreSQL that doubled the round trips of a one-statement
//! request: a `GET` of a document was a query and a ping, and 13 % of the
//! server's CPU went to the pings (bench/README.md, "the pool's pings on
//! release"). This pool tests only the connections that need it: one whose
//! last use did not finish cleanly (an error, a cancelled future, a
//! transaction dropped without commit: its `ROLLBACK` is sent then), one
//! idle for more than a second. When a use shows its connection gone (a
//! PostgreSQL restart), every connection of the pool opened before is
//! retired at once, so that one call fails, not one per connection.
//!
//! A connection given back with messages still to read (a `fetch_optional`
//! stops at its row) is fine: sqlx reads up to the server's
//! `ReadyForQuery` before its next statement.
//!
//! Must stay true: at most `max` connections exist; a transaction dropped
//! without commit, or while its `BEGIN` was on the way, is rolled back
//! before its connection serves anyone else; a connection that failed is
//! tested before it is used again; an acquire gives up after its timeout,
//! whatever it was waiting for (a slot, a test, a new connection); idle
//! connections close after `idle_timeout` even when nothing uses the pool
//! (`reap`).

use futures_util::{StreamExt, TryStreamExt, stream};
use sqlx::AnyConnection;
use sqlx::any::{AnyConnectOptions, AnyQueryResult, AnyRow, AnyStatement};
use sqlx::{Any, Connection, Either, Execute, Executor};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

type BoxFuture<'a, T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'a>>;
type BoxStream<'a, T> = std::pin::Pin<Box<dyn futures_util::Stream<Item = T> + Send + 'a>>;

/// Statements run on every new connection (SQLite's settings).
pub(crate) type Setup = Option<&'static str>;

#[derive(Clone)]
pub(crate) struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    options: AnyConnectOptions,
    setup: Setup,
    max: u32,
    /// One permit per connection that may exist.
    permits: Arc<Semaphore>,
    /// Connections given back cleanly, the most recent last, and when a
    /// lost connection was last seen.
    idle: Mutex<IdleList>,
    acquire_timeout: Duration,
    idle_timeout: Duration,
    /// A connection idle longer than this is pinged before it is used.
    ping_idle_after: Duration,
    /// Idle connections kept open past `idle_timeout` (the SQLite
    /// writer's, whose page cache is worth keeping).
    min_idle: usize,
    /// `close` began: no more connections are handed out.
    closing: AtomicBool,
}

#[derive(Default)]
struct IdleList {
    conns: Vec<Idle>,
    /// A use found its connection gone then: no connection opened before
    /// is handed out again.
    broken_at: Option<Instant>,
}

impl Inner {
    fn idle(&self) -> std::sync::MutexGuard<'_, IdleList> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Closes the connections idle longer than `idle_timeout`, the oldest
    /// first, down to `min_idle`.
    fn prune(&self, idle: &mut Vec<Idle>) {
        let stale = idle
            .iter()
            .take_while(|i| i.since.elapsed() > self.idle_timeout)
            .count()
            .min(idle.len().saturating_sub(self.min_idle));
        idle.drain(..stale);
    }
}

/// Closes idle connections past their time while nothing uses the pool
/// (a server at rest keeps no PostgreSQL backends busy); ends with the
/// pool.
async fn reap(inner: std::sync::Weak<Inner>, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        let Some(inner) = inner.upgrade() else { return };
        if inner.closing.load(Ordering::Relaxed) {
            return;
        }
        inner.prune(&mut inner.idle().conns);
    }
}

/// Does `err` show its connection gone: the socket failed, or PostgreSQL
/// ended the session (SQLSTATE class 57P, operator intervention, e.g.
/// `57P01` at a shutdown or `pg_terminate_backend`; class 08, connection
/// exception)?
fn connection_lost(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_) => true,
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|c| c.starts_with("57P") || c.starts_with("08")),
        _ => false,
    }
}

/// A connection that may succeed if tried again shortly: refused or
/// reset (a PostgreSQL restarting), or PostgreSQL starting up (57P03).
fn worth_retrying(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(e) => matches!(
            e.kind(),
            std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::ConnectionReset
        ),
        sqlx::Error::Database(db) => db.code().as_deref() == Some("57P03"),
        _ => false,
    }
}

struct Idle {
    conn: AnyConnection,
    opened: Instant,
    since: Instant,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("max", &self.inner.max)
            .finish_non_exhaustive()
    }
}

/// How a pool is made.
pub(crate) struct PoolConfig {
    pub max: u32,
    pub setup: Setup,
    pub acquire_timeout: Duration,
    pub idle_timeout: Duration,
    pub ping_idle_after: Duration,
    pub min_idle: usize,
}

impl Pool {
    /// A pool for `url`, with one connection opened at once to show that
    /// the database can be reached.
    pub(crate) async fn connect(url: &str, config: PoolConfig) -> Result<Pool, sqlx::Error> {
        let options: AnyConnectOptions = url.parse()?;
        let pool = Pool {
            inner: Arc::new(Inner {
                options,
                setup: config.setup,
                max: config.max.max(1),
                permits: Arc::new(Semaphore::new(config.max.max(1) as usize)),
                idle: Mutex::new(IdleList::default()),
                acquire_timeout: config.acquire_timeout,
                idle_timeout: config.idle_timeout,
                ping_idle_after: config.ping_idle_after,
                min_idle: config.min_idle,
                closing: AtomicBool::new(false),
            }),
        };
        tokio::spawn(reap(
            Arc::downgrade(&pool.inner),
            (config.idle_timeout / 5).max(Duration::from_secs(1)),
        ));
        let mut first = pool.acquire().await?;
        first.clean();
        Ok(pool)
    }

    /// A connection, within the acquire timeout: waiting for a slot,
    /// testing an idle connection and opening a new one all count. A
    /// refused connection or a server still starting (SQLSTATE 57P03, just
    /// after a restart) is retried until then.
    pub(crate) async fn acquire(&self) -> Result<Lease, sqlx::Error> {
        let inner = &self.inner;
        if inner.closing.load(Ordering::Relaxed) {
            return Err(sqlx::Error::PoolClosed);
        }
        let deadline = tokio::time::Instant::now() + inner.acquire_timeout;
        tokio::time::timeout_at(deadline, self.acquire_now())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?
    }

    async fn acquire_now(&self) -> Result<Lease, sqlx::Error> {
        let inner = &self.inner;
        let permit = inner
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| sqlx::Error::PoolClosed)?;
        while let Some(idle) = self.take_idle() {
            let mut conn = idle.conn;
            if idle.since.elapsed() > inner.ping_idle_after
                && let Err(e) = conn.ping().await
            {
                self.note(&e);
                continue;
            }
            return Ok(Lease::new(conn, idle.opened, permit, self.clone()));
        }
        let mut pause = Duration::from_millis(20);
        loop {
            match self.open_one().await {
                Ok(conn) => return Ok(Lease::new(conn, Instant::now(), permit, self.clone())),
                Err(e) if worth_retrying(&e) => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(1));
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn open_one(&self) -> Result<AnyConnection, sqlx::Error> {
        let mut conn = AnyConnection::connect_with(&self.inner.options).await?;
        if let Some(setup) = self.inner.setup {
            conn.execute(setup).await?;
        }
        Ok(conn)
    }

    /// The most recently given back connection; those idle too long are
    /// closed on the way.
    fn take_idle(&self) -> Option<Idle> {
        let mut idle = self.inner.idle();
        self.inner.prune(&mut idle.conns);
        idle.conns.pop()
    }

    /// Back to the idle list, unless it was opened before a connection
    /// was seen lost.
    fn give_back(&self, conn: AnyConnection, opened: Instant) {
        let mut idle = self.inner.idle();
        if idle.broken_at.is_some_and(|at| opened <= at) {
            return;
        }
        idle.conns.push(Idle {
            conn,
            opened,
            since: Instant::now(),
        });
    }

    /// Notes a failed use: one whose connection is gone retires every
    /// connection opened before (idle ones now, those in use when given
    /// back).
    fn note(&self, err: &sqlx::Error) {
        if connection_lost(err) {
            let mut idle = self.inner.idle();
            idle.broken_at = Some(Instant::now());
            idle.conns.clear();
        }
    }

    /// Ends one use of `lease` by how it went: a success leaves the
    /// connection clean, a failure is noted.
    fn settle<T>(
        &self,
        lease: &mut Lease,
        result: Result<T, sqlx::Error>,
    ) -> Result<T, sqlx::Error> {
        match &result {
            Ok(_) => lease.clean(),
            Err(e) => self.note(e),
        }
        result
    }

    /// A transaction (`BEGIN`, or `begin` as given, e.g. SQLite's
    /// `BEGIN IMMEDIATE`).
    pub(crate) async fn begin_with(&self, begin: &'static str) -> Result<Tx, sqlx::Error> {
        // Open from before `BEGIN` is sent: if this future is dropped
        // meanwhile, the `ROLLBACK` goes before the connection serves again.
        let mut tx = Tx {
            lease: self.acquire().await?,
            open: true,
        };
        if let Err(e) = tx.lease.conn().execute(begin).await {
            // Refused (SQLite busy, a broken connection): nothing is open;
            // the connection is tested before its next use.
            tx.open = false;
            self.note(&e);
            return Err(e);
        }
        Ok(tx)
    }

    pub(crate) async fn begin(&self) -> Result<Tx, sqlx::Error> {
        self.begin_with("BEGIN").await
    }

    /// Refuses new connections, waits for those in use to come back, and
    /// closes them all.
    pub(crate) async fn close(&self) {
        let inner = &self.inner;
        if inner.closing.swap(true, Ordering::Relaxed) {
            return;
        }
        // Every permit back: nothing is in use any more.
        let all = inner.permits.clone().acquire_many_owned(inner.max).await;
        inner.permits.close();
        drop(all);
        let conns = std::mem::take(&mut inner.idle().conns);
        for i in conns {
            let _ = i.conn.close().await;
        }
    }
}

/// A connection taken from the pool; given back when dropped, tested
/// first unless its last use was marked clean.
pub(crate) struct Lease {
    conn: Option<AnyConnection>,
    opened: Instant,
    clean: bool,
    /// Sent before the connection serves anyone else (a dropped
    /// transaction's `ROLLBACK`).
    pending: Option<&'static str>,
    permit: Option<OwnedSemaphorePermit>,
    pool: Pool,
}

impl Lease {
    fn new(
        conn: AnyConnection,
        opened: Instant,
        permit: OwnedSemaphorePermit,
        pool: Pool,
    ) -> Lease {
        Lease {
            conn: Some(conn),
            opened,
            clean: false,
            pending: None,
            permit: Some(permit),
            pool,
        }
    }

    fn conn(&mut self) -> &mut AnyConnection {
        self.clean = false;
        self.conn
            .as_mut()
            .expect("a lease holds its connection until dropped")
    }

    /// The last statement finished: the connection can be given back as is.
    pub(crate) fn clean(&mut self) {
        self.clean = true;
    }
}

impl std::ops::Deref for Lease {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        self.conn
            .as_ref()
            .expect("a lease holds its connection until dropped")
    }
}

impl std::ops::DerefMut for Lease {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        self.conn()
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        let permit = self.permit.take();
        if self.clean && self.pending.is_none() {
            self.pool.give_back(conn, self.opened);
            drop(permit);
            return;
        }
        // Tested (and the pending statement sent) off the caller's path;
        // the permit is held until then, so the pool never exceeds `max`.
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let pool = self.pool.clone();
        let opened = self.opened;
        let pending = self.pending.take();
        rt.spawn(async move {
            let tested = match pending {
                Some(sql) => conn.execute(sql).await.map(drop),
                None => conn.ping().await,
            };
            match tested {
                Ok(()) => pool.give_back(conn, opened),
                Err(e) => pool.note(&e),
            }
            drop(permit);
        });
    }
}

/// A transaction on a pooled connection; rolled back if dropped before
/// [`Tx::commit`].
pub(crate) struct Tx {
    lease: Lease,
    open: bool,
}

impl Tx {
    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        self.end("COMMIT").await
    }

    pub(crate) async fn rollback(self) -> Result<(), sqlx::Error> {
        self.end("ROLLBACK").await
    }

    async fn end(mut self, sql: &'static str) -> Result<(), sqlx::Error> {
        let done = self.lease.conn().execute(sql).await.map(drop);
        // Failed, it stays open: the `ROLLBACK` goes when it is dropped.
        self.open = done.is_err();
        let pool = self.lease.pool.clone();
        pool.settle(&mut self.lease, done)
    }
}

impl std::ops::Deref for Tx {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        &self.lease
    }
}

impl std::ops::DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        self.lease.conn()
    }
}

impl Drop for Tx {
    fn drop(&mut self) {
        if self.open {
            self.lease.pending = Some("ROLLBACK");
        }
    }
}

/// Statements on the pool itself, as on sqlx's pool: each takes a
/// connection for its own run.
impl<'p> Executor<'p> for &'_ Pool {
    type Database = Any;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<AnyQueryResult, AnyRow>, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, Any>,
    {
        let pool = self.clone();
        // Read whole before the connection goes back: the store reads
        // pages of bounded size, never an unbounded stream, from the pool.
        stream::once(async move {
            let mut lease = pool.acquire().await?;
            let items: Result<Vec<_>, _> = lease.conn().fetch_many(query).try_collect().await;
            let items = pool.settle(&mut lease, items)?;
            Ok::<_, sqlx::Error>(stream::iter(items.into_iter().map(Ok)))
        })
        .try_flatten()
        .boxed()
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<AnyRow>, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, Any>,
    {
        let pool = self.clone();
        Box::pin(async move {
            let mut lease = pool.acquire().await?;
            let row = lease.conn().fetch_optional(query).await;
            pool.settle(&mut lease, row)
        })
    }

    fn prepare_with<'e>(
        self,
        sql: sqlx::SqlStr,
        parameters: &'e [sqlx::any::AnyTypeInfo],
    ) -> BoxFuture<'e, Result<AnyStatement, sqlx::Error>>
    where
        'p: 'e,
    {
        let pool = self.clone();
        Box::pin(async move {
            let mut lease = pool.acquire().await?;
            let statement = lease.conn().prepare_with(sql, parameters).await;
            pool.settle(&mut lease, statement)
        })
    }
}
