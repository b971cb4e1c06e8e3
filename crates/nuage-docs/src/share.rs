//! Each instance's fair share of the server's CPU for large requests.
//!
//! A request with a large body (a `_bulk_docs` batch, a big document, a
//! body that will be refused for its size) costs milliseconds of parsing
//! and copying. Run on the async runtime's workers (one per core), a few
//! such requests from one instance hold every worker, and every other
//! instance's small requests wait behind them. So a face hands such a
//! request to [`Share`]:
//!
//! - **one at a time per instance**: [`Share::permit`] waits (without
//!   using a thread) while the instance already has one in flight, so one
//!   instance never holds more than one of the share's threads, whatever
//!   it sends;
//! - **on low-priority threads**: [`Share::run`] drives the request's
//!   future on one of the share's own threads, which run at a lower
//!   scheduling priority (nice 10 on Linux). The runtime's workers stay free
//!   for small requests, and the operating system runs a worker before a
//!   share thread whenever both want a core: a tenant's big work uses
//!   what CPU the others leave, not theirs.
//!
//! Must stay true: a face reads a large body only after the permit is
//! held, and the permit lives until the answer is made; the threads never
//! wait on a client (the body is already read when [`Share::run`] starts).
//!
//! - **within a server-wide budget of body bytes**: one large body per
//!   instance is bounded, but a thousand instances each sending one are
//!   not. A body reserves the budget as its bytes arrive, a step ahead of
//!   them, and is refused if the budget is spent
//!   ([`SharePermit::try_reserve_body`]: waiting there, two half-read
//!   bodies could wait on each other for ever). Only its first step is
//!   waited for, in order, before a byte is read
//!   ([`SharePermit::reserve_body`]), while it holds nothing. What a body
//!   holds follows what it sent: announcing 64 MiB and sending nothing
//!   holds one step, not 64 MiB. The bytes are released with the permit,
//!   once the answer is made.
//! - **kept only by a client that keeps sending**: while another large
//!   request of its instance waits ([`SharePermit::others_waiting`]), a
//!   body read in the turn must keep up [`MinBodyRate`] after a grace
//!   period and never stall for longer than the grace, or be refused and
//!   give the turn back at once; otherwise a client trickling a body would
//!   hold its instance's one turn (and every other large request of the
//!   instance behind it) until the body deadline. With nobody waiting, a
//!   slow phone's upload takes as long as it takes (the deadline bounds
//!   it).
//!
//! Cost per tenant: an instance with a large request in flight or waiting
//! has one entry in a map, removed when its last permit is released;
//! idle instances cost nothing. The threads (as many as cores, at least
//! two) start with the first large request and stop when the last
//! [`crate::Docs`] holding them is dropped.

use nuage_core::InstanceId;
use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};
use tokio::time::Instant;

/// Bodies up to this size are handled inline, on the runtime: parsing
/// them costs less than handing them over.
pub const SMALL_BODY_BYTES: u64 = 64 * 1024;

/// Large requests one instance may have in flight at once.
pub const PER_INSTANCE: usize = 1;

/// The nice value of the share's threads (Linux). Against one busy
/// thread at nice 0, a thread at nice 10 gets about a tenth of a core
/// (CFS weights 110 and 1024) and is preempted as soon as the other
/// wakes. Not 19 (1.5 %): on a machine saturated by other programs (the
/// database beside us), large requests would nearly stop.
const NICE: i32 = 10;

/// Bytes of request bodies that large requests may hold in memory at
/// once across every instance, by default: four bodies of the largest
/// size a document request accepts.
pub const DEFAULT_BODY_BUDGET: u64 = 256 * 1024 * 1024;

/// The budget counts in units of this many bytes (a semaphore's permits
/// are counted in `u32`).
const BUDGET_UNIT: u64 = 1024;

/// The least a client sending a large body must keep up while its body is
/// read in its instance's turn and another request waits for that turn (as
/// Apache's `mod_reqtimeout` `MinRate`): after `grace`, every byte received
/// gives the client `1 / bytes_per_sec` more seconds, so the body must have
/// arrived at an average of at least `bytes_per_sec` since the grace ended;
/// and no pause may last longer than `grace`, so bytes sent fast at first
/// buy no right to stall later. `bytes_per_sec == 0`: no minimum (the body
/// deadline alone bounds the read).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MinBodyRate {
    pub bytes_per_sec: u64,
    pub grace: Duration,
}

/// 16 KiB/s (128 kbit/s, less than a poor mobile uplink) after 10 s: a
/// 1 MiB batch may take a minute, a trickle is cut within seconds.
pub const DEFAULT_MIN_BODY_RATE: MinBodyRate = MinBodyRate {
    bytes_per_sec: 16 * 1024,
    grace: Duration::from_secs(10),
};

impl MinBodyRate {
    /// When a body whose reading began at `started`, whose last bytes came
    /// at `last` and which has brought `received` bytes so far is too slow
    /// if no more has come; `None`: never.
    pub fn due(&self, started: Instant, last: Instant, received: u64) -> Option<Instant> {
        if self.bytes_per_sec == 0 {
            return None;
        }
        let earned = Duration::from_secs_f64(received as f64 / self.bytes_per_sec as f64);
        Some((started + self.grace + earned).min(last.max(started) + self.grace))
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// See the module documentation. Cheap to clone; clones share the permits
/// and the threads.
#[derive(Clone)]
pub struct Share {
    inner: Arc<Inner>,
}

struct Inner {
    instances: Mutex<HashMap<InstanceId, Arc<Semaphore>>>,
    pool: OnceLock<Mutex<mpsc::Sender<Job>>>,
    /// The server-wide budget of body bytes, in [`BUDGET_UNIT`]s.
    bodies: Arc<Semaphore>,
    body_units: u32,
    min_rate: MinBodyRate,
    /// Large requests waiting for their instance's turn, server-wide.
    waiting: AtomicUsize,
}

impl Default for Share {
    fn default() -> Share {
        Share::new(DEFAULT_BODY_BUDGET, DEFAULT_MIN_BODY_RATE)
    }
}

/// An instance's turn for one large request, and the body bytes it
/// reserved; both released when dropped.
pub struct SharePermit {
    share: Share,
    instance: InstanceId,
    permit: Option<OwnedSemaphorePermit>,
    body: Option<OwnedSemaphorePermit>,
}

/// The request's future panicked on a share thread.
#[derive(Debug, thiserror::Error)]
#[error("a large request failed inside the server; try again, and report it if it keeps failing")]
pub struct SharePanicked;

impl Share {
    /// A share whose large requests hold at most `bytes` of bodies at once
    /// (rounded up to a KiB, at least one).
    pub fn with_body_budget(bytes: u64) -> Share {
        Share::new(bytes, DEFAULT_MIN_BODY_RATE)
    }

    /// A share with a budget of `bytes` of bodies, whose bodies must keep
    /// up `min_rate` while they are read in their instance's turn.
    pub fn new(bytes: u64, min_rate: MinBodyRate) -> Share {
        let units = units(bytes).max(1);
        Share {
            inner: Arc::new(Inner {
                instances: Mutex::default(),
                pool: OnceLock::new(),
                bodies: Arc::new(Semaphore::new(units as usize)),
                body_units: units,
                min_rate,
                waiting: AtomicUsize::new(0),
            }),
        }
    }

    /// The whole budget of body bytes.
    pub fn body_budget(&self) -> u64 {
        u64::from(self.inner.body_units) * BUDGET_UNIT
    }

    /// The rate a body read in its instance's turn must keep up.
    pub fn min_body_rate(&self) -> MinBodyRate {
        self.inner.min_rate
    }

    /// Bytes of the body budget not reserved now (for tests and metrics).
    pub fn body_budget_free(&self) -> u64 {
        self.inner.bodies.available_permits() as u64 * BUDGET_UNIT
    }

    /// The gauge `nuage_large_body_bytes_reserved`: what a provider
    /// watches to size `connections.large_bodies_memory_bytes`.
    fn report_reserved(&self) {
        let free = self.inner.bodies.available_permits() as u64;
        let reserved = u64::from(self.inner.body_units).saturating_sub(free) * BUDGET_UNIT;
        metrics::gauge!("nuage_large_body_bytes_reserved").set(reserved as f64);
    }

    /// Waits for `instance`'s turn: at most [`PER_INSTANCE`] large requests
    /// of one instance are in flight; the others wait here in order.
    pub async fn permit(&self, instance: &InstanceId) -> SharePermit {
        let sem = {
            let mut map = self.inner.instances.lock().expect("share map poisoned");
            let sem = map
                .entry(instance.clone())
                .or_insert_with(|| Arc::new(Semaphore::new(PER_INSTANCE)))
                .clone();
            report_busy(map.len());
            sem
        };
        let permit = match sem.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                let _waiting = Waiting::new(&self.inner.waiting);
                sem.acquire_owned()
                    .await
                    .expect("a share semaphore is never closed")
            }
        };
        SharePermit {
            share: self.clone(),
            instance: instance.clone(),
            permit: Some(permit),
            body: None,
        }
    }

    /// Drives `fut` to its end on one of the share's low-priority threads,
    /// holding `permit` until then. Must be called from within a Tokio
    /// runtime: the future's I/O and timers stay on it. If the caller stops
    /// waiting, the future still runs to its end (a write is never cut in
    /// the middle), and the permit is held until it has.
    pub async fn run<F>(&self, permit: SharePermit, fut: F) -> Result<F::Output, SharePanicked>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let handle = tokio::runtime::Handle::current();
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move || {
            let out = std::panic::catch_unwind(AssertUnwindSafe(|| handle.block_on(fut)));
            drop(permit);
            if let Ok(out) = out {
                let _ = tx.send(out);
            }
        });
        self.pool()
            .lock()
            .expect("share pool poisoned")
            .send(job)
            .expect("share threads live as long as the share");
        rx.await.map_err(|_| SharePanicked)
    }

    /// Large requests waiting for their instance's turn now, server-wide
    /// (for tests and metrics).
    pub fn waiting_requests(&self) -> usize {
        self.inner.waiting.load(Ordering::Relaxed)
    }

    /// Instances with a large request in flight or waiting (for tests and
    /// metrics).
    pub fn busy_instances(&self) -> usize {
        self.inner
            .instances
            .lock()
            .expect("share map poisoned")
            .len()
    }

    fn pool(&self) -> &Mutex<mpsc::Sender<Job>> {
        self.inner.pool.get_or_init(|| {
            let (tx, rx) = mpsc::channel::<Job>();
            let rx = Arc::new(Mutex::new(rx));
            let threads = std::thread::available_parallelism()
                .map_or(2, |n| n.get())
                .max(2);
            for i in 0..threads {
                let rx = rx.clone();
                std::thread::Builder::new()
                    .name(format!("nuage-share-{i}"))
                    .spawn(move || worker(&rx))
                    .expect("the share's threads start");
            }
            Mutex::new(tx)
        })
    }
}

/// One share thread: lowers its own priority, then runs jobs until every
/// sender is gone.
fn worker(rx: &Mutex<mpsc::Receiver<Job>>) {
    lower_priority();
    loop {
        let job = {
            let rx = rx.lock().expect("share queue poisoned");
            rx.recv()
        };
        match job {
            // A job catches its own panic; the thread goes on.
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

#[cfg(target_os = "linux")]
fn lower_priority() {
    // setpriority(PRIO_PROCESS, tid) sets one thread's nice value on Linux.
    let tid = rustix::thread::gettid();
    if let Err(e) = rustix::process::setpriority_process(Some(tid), NICE) {
        tracing::warn!(error = %e, "could not lower the priority of a share thread; large requests will compete with small ones");
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

/// The gauge `nuage_large_request_instances`: instances with a large
/// request in flight or waiting for their turn.
fn report_busy(instances: usize) {
    metrics::gauge!("nuage_large_request_instances").set(instances as f64);
}

/// One request counted in the gauge `nuage_large_requests_waiting` while
/// it waits for its instance's turn (also if the wait is abandoned).
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn new(count: &'a AtomicUsize) -> Waiting<'a> {
        let now = count.fetch_add(1, Ordering::Relaxed) + 1;
        metrics::gauge!("nuage_large_requests_waiting").set(now as f64);
        Waiting(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let now = self.0.fetch_sub(1, Ordering::Relaxed) - 1;
        metrics::gauge!("nuage_large_requests_waiting").set(now as f64);
    }
}

/// Budget units covering `bytes`.
fn units(bytes: u64) -> u32 {
    u32::try_from(bytes.div_ceil(BUDGET_UNIT)).unwrap_or(u32::MAX)
}

impl SharePermit {
    /// Reserves `bytes` of the server-wide body budget, waiting (in order)
    /// until they are free: for a body's first step, before any of it is
    /// read, while the permit holds none of the budget (a permit that holds
    /// some must not wait for more: see the module documentation). More
    /// than the whole budget reserves the whole budget.
    pub async fn reserve_body(&mut self, bytes: u64) {
        let inner = &self.share.inner;
        let want = self.units_beyond(units(bytes).min(inner.body_units));
        if want == 0 {
            return;
        }
        let got = inner
            .bodies
            .clone()
            .acquire_many_owned(want)
            .await
            .expect("the body budget is never closed");
        self.keep(got);
    }

    /// Reserves the budget for a body that has grown to `bytes`, without
    /// waiting: `false` if the budget is spent (the body is to be refused
    /// as the server being busy).
    pub fn try_reserve_body(&mut self, bytes: u64) -> bool {
        let want = self.units_beyond(units(bytes));
        if want == 0 {
            return true;
        }
        match self.share.inner.bodies.clone().try_acquire_many_owned(want) {
            Ok(got) => {
                self.keep(got);
                true
            }
            Err(_) => false,
        }
    }

    /// Does another large request of this permit's instance wait for its
    /// turn now? (Each waiter holds a handle on the instance's semaphore,
    /// as do the map and each permit in flight.)
    pub fn others_waiting(&self) -> bool {
        let map = self
            .share
            .inner
            .instances
            .lock()
            .expect("share map poisoned");
        map.get(&self.instance).is_some_and(|sem| {
            let in_flight = PER_INSTANCE.saturating_sub(sem.available_permits());
            Arc::strong_count(sem) > 1 + in_flight
        })
    }

    /// Gives back the body bytes reserved so far (the body was dropped).
    pub fn release_body(&mut self) {
        self.body = None;
        self.share.report_reserved();
    }

    /// Units needed beyond those held to hold `need` in all.
    fn units_beyond(&self, need: u32) -> u32 {
        let held = self
            .body
            .as_ref()
            .map_or(0, OwnedSemaphorePermit::num_permits);
        need.saturating_sub(u32::try_from(held).unwrap_or(u32::MAX))
    }

    fn keep(&mut self, got: OwnedSemaphorePermit) {
        match &mut self.body {
            Some(held) => held.merge(got),
            None => self.body = Some(got),
        }
        self.share.report_reserved();
    }
}

impl Drop for SharePermit {
    fn drop(&mut self) {
        let mut map = self
            .share
            .inner
            .instances
            .lock()
            .expect("share map poisoned");
        // The map's Arc and this permit's: nobody else holds or waits.
        if map
            .get(&self.instance)
            .is_some_and(|sem| Arc::strong_count(sem) == 2)
        {
            map.remove(&self.instance);
        }
        report_busy(map.len());
        drop(self.permit.take());
        drop(self.body.take());
        self.share.report_reserved();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn inst(s: &str) -> InstanceId {
        InstanceId::new(s)
    }

    /// Is `fut` still waiting after being polled once? (A zero timeout
    /// polls the future before it looks at the clock.)
    async fn waits<F: Future>(fut: F) -> bool {
        tokio::time::timeout(Duration::ZERO, fut).await.is_err()
    }

    #[tokio::test]
    async fn one_instance_waits_for_its_turn_while_another_goes_on() {
        let share = Share::default();
        let a = inst("a");
        let first = share.permit(&a).await;
        assert!(
            waits(share.permit(&a)).await,
            "a second large request of one instance must wait for the first"
        );
        // Another instance is served at once.
        assert!(!waits(share.permit(&inst("b"))).await);
        // The first ends on a share thread; then the instance's next turn
        // comes at once.
        let out = share.run(first, async { 7 }).await.unwrap();
        assert_eq!(out, 7);
        assert!(!waits(share.permit(&a)).await);
        assert_eq!(share.busy_instances(), 0, "idle instances cost nothing");
    }

    #[tokio::test]
    async fn work_runs_on_a_low_priority_thread_and_keeps_its_runtime() {
        let share = Share::default();
        let p = share.permit(&inst("a")).await;
        let (name, nice) = share
            .run(p, async {
                // Timers of the caller's runtime work from the share thread.
                tokio::time::sleep(Duration::from_millis(1)).await;
                (std::thread::current().name().map(str::to_owned), own_nice())
            })
            .await
            .unwrap();
        assert!(name.unwrap().starts_with("nuage-share-"));
        if cfg!(target_os = "linux") {
            assert_eq!(nice, Some(NICE));
        }
    }

    #[tokio::test]
    async fn a_panic_fails_its_request_alone() {
        let share = Share::default();
        let p = share.permit(&inst("a")).await;
        let r = share
            .run(p, async {
                if true {
                    panic!("boom")
                }
            })
            .await;
        assert!(matches!(r, Err::<(), _>(SharePanicked)));
        // The thread and the instance's turn survive it.
        let p = share.permit(&inst("a")).await;
        assert_eq!(share.run(p, async { 1 }).await.unwrap(), 1);
        assert_eq!(share.busy_instances(), 0);
    }

    #[tokio::test]
    async fn bodies_of_every_instance_share_one_budget_of_bytes() {
        let share = Share::with_body_budget(3 * 1024 * 1024);
        let mut a = share.permit(&inst("a")).await;
        a.reserve_body(2 * 1024 * 1024).await;
        let mut b = share.permit(&inst("b")).await;
        assert!(
            waits(b.reserve_body(2 * 1024 * 1024)).await,
            "another instance's body must wait while the budget is spent"
        );
        // A body read in chunks is refused rather than made to wait.
        let mut c = share.permit(&inst("c")).await;
        assert!(c.try_reserve_body(512 * 1024));
        assert!(c.try_reserve_body(1024 * 1024), "its first MiB fits");
        assert!(!c.try_reserve_body(1024 * 1024 + 1), "the budget is spent");
        c.release_body();
        assert_eq!(share.body_budget_free(), 1024 * 1024);
        // The bytes come back when the request ends.
        share.run(a, async {}).await.unwrap();
        b.reserve_body(2 * 1024 * 1024).await;
        assert_eq!(share.body_budget_free(), 1024 * 1024);
        // A body larger than the whole budget takes all of it, then waits
        // no more.
        drop(b);
        let mut d = share.permit(&inst("d")).await;
        d.reserve_body(64 * 1024 * 1024).await;
        assert_eq!(share.body_budget_free(), 0);
        drop(d);
        assert_eq!(share.body_budget_free(), 3 * 1024 * 1024);
    }

    #[tokio::test]
    async fn requests_waiting_for_their_turn_are_counted_while_they_wait() {
        let share = Share::default();
        let a = inst("a");
        let first = share.permit(&a).await;
        assert_eq!(share.waiting_requests(), 0, "the first never waited");
        let second = share.permit(&a);
        tokio::pin!(second);
        assert!(waits(&mut second).await);
        assert_eq!(share.waiting_requests(), 1);
        // A wait given up (the client went away) is no longer counted.
        assert!(waits(share.permit(&a)).await);
        assert_eq!(share.waiting_requests(), 1);
        drop(first);
        let _second = second.await;
        assert_eq!(share.waiting_requests(), 0);
    }

    #[tokio::test]
    async fn a_permit_knows_whether_its_instance_has_a_request_waiting() {
        let share = Share::default();
        let a = inst("a");
        let first = share.permit(&a).await;
        let _other = share.permit(&inst("b")).await;
        assert!(!first.others_waiting(), "another instance's is not");
        let second = share.permit(&a);
        tokio::pin!(second);
        assert!(waits(&mut second).await);
        assert!(first.others_waiting());
        drop(first);
        let second = second.await;
        assert!(!second.others_waiting(), "the waiter got its turn");
    }

    #[test]
    fn a_body_earns_time_with_every_byte_once_its_grace_is_over() {
        let rate = MinBodyRate {
            bytes_per_sec: 1024,
            grace: Duration::from_secs(10),
        };
        let t0 = Instant::now();
        assert_eq!(rate.due(t0, t0, 0), Some(t0 + Duration::from_secs(10)));
        let sent = t0 + Duration::from_secs(5);
        assert_eq!(rate.due(t0, sent, 3072), Some(t0 + Duration::from_secs(13)));
        // Bytes sent fast at first buy no right to a pause past the grace.
        let later = t0 + Duration::from_secs(1);
        assert_eq!(
            rate.due(t0, later, 10 * 3072),
            Some(later + Duration::from_secs(10))
        );
        let none = MinBodyRate {
            bytes_per_sec: 0,
            ..rate
        };
        assert_eq!(none.due(t0, t0, 3072), None, "0: no minimum");
    }

    /// This thread's nice value, from `/proc/thread-self/stat` (field 19).
    fn own_nice() -> Option<i32> {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
        let after = &stat[stat.rfind(')')? + 2..];
        after.split(' ').nth(16)?.parse().ok()
    }
}
