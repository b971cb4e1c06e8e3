//! One `nuage serve` process on a database and data folder of its own, and
//! the command line run against the same data.

use super::{ADMIN_SECRET, Browser, OTHER_HOST, PASSPHRASE, Page};
use nuage_store::Engine;
use nuage_store::testing::TestDb;
use reqwest::StatusCode;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tempfile::TempDir;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

const START_TIMEOUT: Duration = Duration::from_secs(20);
const CLI_TIMEOUT: Duration = Duration::from_secs(30);
/// No single request may take longer than this; a hung server fails a test.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Host names the test clients resolve to the server's public address: the
/// first instance (`localhost`), the one scenarios add, one the admin API
/// creates, and one no instance has.
const HOSTS: [&str; 4] = ["localhost", OTHER_HOST, "c.localhost", "unknown.localhost"];

/// Kills the process when dropped, also when a test panics half-way.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub struct Server {
    pub engine: Engine,
    /// The public listener.
    pub addr: SocketAddr,
    pub admin_addr: SocketAddr,
    /// The first instance's domain, `localhost:PORT`.
    pub domain: String,
    /// The link printed on the first start, to choose the owner's passphrase.
    pub onboarding_url: String,
    /// Everything the process wrote (stderr, and stdout after the start).
    log: Arc<Mutex<String>>,
    // Field order matters: the process is killed before its data and
    // database go away.
    child: KillOnDrop,
    data: TempDir,
    db: TestDb,
}

impl Server {
    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.0.id()
    }

    /// Starts `nuage serve` on a fresh database of `engine` and waits until
    /// it has printed its addresses and the onboarding link.
    pub async fn start(engine: Engine) -> Server {
        Server::start_configured(engine, "").await
    }

    /// [`Server::start`] with a configuration file holding `toml` (see
    /// `nuage config example`).
    pub async fn start_configured(engine: Engine, toml: &str) -> Server {
        let db = TestDb::new(engine).await;
        let data = tempfile::tempdir().expect("temp data dir");
        let config = data.path().join("test-config.toml");
        std::fs::write(&config, toml).expect("write the test configuration");
        let (child, log, ready) = serve(&db.url, data.path(), Some(&config), true).await;
        let addr = ready.addr;
        Server {
            engine,
            domain: format!("localhost:{}", addr.port()),
            addr,
            admin_addr: ready.admin_addr,
            onboarding_url: ready.onboarding_url.unwrap_or_else(|| unreachable!()),
            log,
            child,
            data,
            db,
        }
    }

    /// Starts a second `nuage serve` process on this server's database,
    /// with a data folder and ports of its own, as a second machine behind
    /// a load balancer would run. The instance exists already, so it prints
    /// no onboarding link; it serves the same instances, under the same
    /// domains (see [`Sibling`]). It borrows the server: it stops before
    /// the database goes.
    pub async fn start_sibling(&self) -> Sibling<'_> {
        let data = tempfile::tempdir().expect("temp data dir");
        let (child, log, ready) = serve(&self.db.url, data.path(), None, false).await;
        Sibling {
            first: self,
            addr: ready.addr,
            admin_addr: ready.admin_addr,
            log,
            child,
            data,
        }
    }

    /// `http://localhost:PORT/path`, on the first instance.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.domain)
    }

    /// `http://HOST:PORT/path`: the same listener, another `Host`.
    pub fn url_on(&self, host: &str, path: &str) -> String {
        format!("http://{host}:{}{path}", self.addr.port())
    }

    /// `http://127.0.0.1:ADMIN_PORT/path`, on the admin listener.
    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin_addr)
    }

    /// The value of an unlabelled metric on the admin `/metrics` now
    /// (0 if not reported yet).
    pub async fn metric(&self, name: &str) -> f64 {
        let text = self
            .http()
            .get(self.admin_url("/metrics"))
            .bearer_auth(super::ADMIN_SECRET)
            .send()
            .await
            .expect("the admin listener answers")
            .text()
            .await
            .expect("metrics are text");
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
            .unwrap_or(0.0)
    }

    /// Waits until the unlabelled metric `name` reaches `at_least`
    /// (polling the admin `/metrics`, yielding between reads); fails the
    /// test if it has not within [`REQUEST_TIMEOUT`], saying `what`.
    pub async fn until_metric(&self, name: &str, at_least: f64, what: &str) {
        let reached = tokio::time::timeout(REQUEST_TIMEOUT, async {
            while self.metric(name).await < at_least {
                tokio::task::yield_now().await;
            }
        });
        if reached.await.is_err() {
            panic!(
                "{what}: {name} stayed below {at_least} for {REQUEST_TIMEOUT:?}\n{}",
                self.log()
            );
        }
    }

    /// The server's database, opened beside it, to count what it holds.
    pub async fn store(&self) -> nuage_store::Store {
        self.db.open().await
    }

    /// The server's blob store (in its data folder), to count blobs.
    pub fn blobs(&self) -> nuage_blob::Blobs {
        nuage_blob::Blobs::new(self.data.path().join("blobs"))
    }

    /// Sends SIGTERM, as a service manager stopping nuage would, and
    /// waits up to `limit` for the process to exit; its exit status, or
    /// `None` if it was still running.
    pub async fn terminate(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let pid = self.child.0.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM {pid} failed");
        let deadline = tokio::time::Instant::now() + limit;
        while tokio::time::Instant::now() < deadline {
            if let Some(status) = self.child.0.try_wait().expect("wait for nuage") {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    /// What the server printed so far, for failure messages.
    /// The server process's peak resident memory so far (`VmHWM`), in
    /// bytes (Linux).
    pub fn peak_memory(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.0.id()))
            .expect("read the server's /proc status");
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM in /proc status");
        kb * 1024
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// A client builder as every test client starts: no redirects followed
    /// (tests check each one), a bounded time per request, and the test host
    /// names resolved to this server.
    pub fn client_builder(&self) -> reqwest::ClientBuilder {
        HOSTS.iter().fold(
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(REQUEST_TIMEOUT),
            |b, host| b.resolve(host, self.addr),
        )
    }

    /// A client without cookies: what apps, scripts and attackers use.
    pub fn http(&self) -> reqwest::Client {
        self.client_builder().build().expect("http client")
    }

    /// A fresh browser on the first instance.
    pub fn browser(&self) -> Browser {
        Browser::new(self, &self.domain, "nuage-e2e browser")
    }

    /// A fresh browser with its own user agent, so its session is recognisable.
    pub fn browser_named(&self, user_agent: &str) -> Browser {
        Browser::new(self, &self.domain, user_agent)
    }

    /// A fresh browser on another instance served by the same process.
    pub fn browser_on(&self, host: &str) -> Browser {
        Browser::new(
            self,
            &format!("{host}:{}", self.addr.port()),
            "nuage-e2e browser",
        )
    }

    /// The owner opens the printed onboarding link, chooses [`PASSPHRASE`]
    /// and is logged in.
    pub async fn onboard_owner(&self) -> Browser {
        let owner = self.browser();
        let page = owner.open(&self.onboarding_url).await;
        let reply = owner
            .submit(
                &page,
                &[
                    ("passphrase", PASSPHRASE),
                    ("passphrase_confirm", PASSPHRASE),
                ],
            )
            .await
            .expect_status(StatusCode::SEE_OTHER);
        assert!(
            reply.set_cookie("nuage_session").is_some(),
            "onboarding must log in: {reply}"
        );
        owner
    }

    /// Adds an instance from the command line, with [`PASSPHRASE`] as its
    /// passphrase.
    pub async fn add_instance(&self, domain: &str) {
        let out = self
            .cli_with_stdin(
                &["instance", "add", domain, "--passphrase-stdin"],
                &format!("{PASSPHRASE}\n"),
            )
            .await;
        assert_success(&out, "nuage instance add");
    }

    /// `nuage ARGS --data DIR --database-url URL`, on this server's data.
    pub async fn cli(&self, args: &[&str]) -> Output {
        self.cli_with_stdin(args, "").await
    }

    pub async fn cli_with_stdin(&self, args: &[&str], stdin: &str) -> Output {
        let mut args = args.to_vec();
        let data = self.data.path().to_str().expect("a UTF-8 temp path");
        args.extend(["--data", data, "--database-url", &self.db.url]);
        run_cli(&args, stdin).await
    }

    /// Runs a command that must succeed; returns its stdout.
    pub async fn cli_ok(&self, args: &[&str]) -> String {
        let out = self.cli(args).await;
        assert_success(&out, &format!("nuage {}", args.join(" ")));
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    /// A CLI token for the first instance (`nuage token`).
    pub async fn cli_token(&self, scope: &str, ttl: Option<&str>) -> String {
        self.cli_token_on(&self.domain, scope, ttl).await
    }

    /// A CLI token for the instance at `domain`.
    pub async fn cli_token_on(&self, domain: &str, scope: &str, ttl: Option<&str>) -> String {
        let mut args = vec!["token", domain, "--scope", scope];
        if let Some(ttl) = ttl {
            args.extend(["--ttl", ttl]);
        }
        let stdout = self.cli_ok(&args).await;
        alone_on_stdout(&stdout, "nct_")
    }

    /// An app password for `domain` (`nuage app-password add`).
    pub async fn app_password(&self, domain: &str, name: &str, scope: &str) -> String {
        let stdout = self
            .cli_ok(&[
                "app-password",
                "add",
                domain,
                "--name",
                name,
                "--scope",
                scope,
            ])
            .await;
        alone_on_stdout(&stdout, "nap_")
    }

    /// A `/data` client for the first instance with a new CLI token of
    /// `scope`.
    pub async fn couch(&self, scope: &str) -> super::Couch {
        let token = self.cli_token(scope, None).await;
        self.couch_with(&token)
    }

    /// A `/data` client for the first instance presenting `token`.
    pub fn couch_with(&self, token: &str) -> super::Couch {
        super::Couch::new(self.http(), self.url(""), None, token)
    }

    /// A `/data` client for the instance at `host` (a name the test
    /// clients resolve here, such as [`OTHER_HOST`]) presenting `token`.
    pub fn couch_on(&self, host: &str, token: &str) -> super::Couch {
        super::Couch::new(self.http(), self.url_on(host, ""), None, token)
    }

    /// A WebSocket to `/realtime/` on the first instance; `name` says
    /// whose it is in failure messages.
    pub async fn realtime(&self, name: &str) -> super::Realtime {
        super::Realtime::connect(self.addr, &self.domain, name).await
    }

    /// A WebSocket to `/realtime/` on the instance at `host`.
    pub async fn realtime_on(&self, host: &str, name: &str) -> super::Realtime {
        let host = format!("{host}:{}", self.addr.port());
        super::Realtime::connect(self.addr, &host, name).await
    }

    /// Is the public listener still answering `/status` correctly?
    pub async fn assert_healthy(&self) {
        let body = super::send(self.http().get(self.url("/status")))
            .await
            .json_ok(StatusCode::OK);
        assert_eq!(body["status"], "ok", "{body}");
        assert_eq!(body["store"], "ok", "{body}");
    }

    /// Logs in on the first instance with the passphrase; returns the
    /// browser and the page the login answered.
    pub async fn login(&self, passphrase: &str) -> (Browser, super::Reply) {
        let b = self.browser();
        let reply = b.login(passphrase).await;
        (b, reply)
    }

    /// The page at the onboarding link, opened by a fresh browser.
    pub async fn onboarding_page(&self) -> (Browser, Page) {
        let b = self.browser();
        let page = b.open(&self.onboarding_url).await;
        (b, page)
    }
}

/// `nuage ARGS` on a data folder of its own and no server: for commands
/// that must fail before they reach one (a bad flag, no database).
pub async fn cli_alone(args: &[&str]) -> Output {
    let data = tempfile::tempdir().expect("temp data dir");
    let mut args = args.to_vec();
    args.extend(["--data", data.path().to_str().expect("a UTF-8 temp path")]);
    run_cli(&args, "").await
}

/// Runs the nuage binary with `args` and `stdin`, in an environment of
/// its own (no DATABASE_URL or NUAGE_DATA from the shell running the
/// tests), within [`CLI_TIMEOUT`].
async fn run_cli(args: &[&str], stdin: &str) -> Output {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_nuage"))
        .args(args)
        .env("RUST_LOG", "warn")
        .env_remove("DATABASE_URL")
        .env_remove("NUAGE_DATA")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("run the nuage binary");
    let mut input = child.stdin.take().expect("piped stdin");
    input
        .write_all(stdin.as_bytes())
        .await
        .expect("write the command's stdin");
    drop(input);
    tokio::time::timeout(CLI_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("`nuage {}` took over {CLI_TIMEOUT:?}", args.join(" ")))
        .expect("wait for the nuage command")
}

/// What a starting `nuage serve` printed: its addresses, and the onboarding
/// link when it created the first instance.
struct Ready {
    addr: SocketAddr,
    admin_addr: SocketAddr,
    onboarding_url: Option<String>,
}

/// Spawns `nuage serve` on `db_url` and `data` and waits until it has
/// printed its addresses (and the onboarding link, when `onboarding`).
async fn serve(
    db_url: &str,
    data: &std::path::Path,
    config: Option<&std::path::Path>,
    onboarding: bool,
) -> (KillOnDrop, Arc<Mutex<String>>, Ready) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_nuage"));
    match config {
        Some(path) => command.env("NUAGE_CONFIG", path),
        None => command.env_remove("NUAGE_CONFIG"),
    };
    let mut child = command
        .arg("serve")
        .arg("--data")
        .arg(data)
        .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
        .args(["--database-url", db_url])
        .env("NUAGE_ADMIN_SECRET", ADMIN_SECRET)
        .env("RUST_LOG", "warn")
        .env_remove("DATABASE_URL")
        .env_remove("NUAGE_DATA")
        .env_remove("NUAGE_LISTEN")
        .env_remove("NUAGE_ADMIN_LISTEN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the nuage binary");
    let log = Arc::new(Mutex::new(String::new()));
    let (lines_tx, mut lines) = mpsc::unbounded_channel();
    collect(child.stderr.take(), log.clone(), None);
    collect(child.stdout.take(), log.clone(), Some(lines_tx));
    let mut child = KillOnDrop(child);

    let (mut addr, mut admin_addr, mut onboarding_url) = (None, None, None);
    let deadline = tokio::time::Instant::now() + START_TIMEOUT;
    while addr.is_none() || admin_addr.is_none() || (onboarding && onboarding_url.is_none()) {
        let line = match tokio::time::timeout_at(deadline, lines.recv()).await {
            Ok(Some(line)) => line,
            Ok(None) => {
                // stdout closed: the process ended. Give the stderr
                // reader a moment to collect its last words.
                let status = child.0.wait().ok();
                tokio::time::sleep(Duration::from_millis(200)).await;
                panic!(
                    "nuage serve exited ({status:?}) before it was ready; its output:\n{}",
                    log.lock().unwrap()
                );
            }
            Err(_) => panic!(
                "nuage serve did not print its addresses{} within {START_TIMEOUT:?}; its output:\n{}",
                if onboarding {
                    " and onboarding link"
                } else {
                    ""
                },
                log.lock().unwrap()
            ),
        };
        if let Some(a) = line.strip_prefix("nuage: listening on http://") {
            addr = Some(parse_addr(a.trim(), &line));
        } else if let Some(a) = line.strip_prefix("nuage: admin API on http://") {
            admin_addr = Some(parse_addr(a.trim(), &line));
        } else if let Some(rest) = line.strip_prefix("nuage: open ") {
            let url = rest
                .strip_suffix(" to choose the owner's passphrase")
                .unwrap_or_else(|| panic!("unexpected onboarding line: {line:?}"));
            onboarding_url = Some(url.to_owned());
        }
    }
    let ready = Ready {
        addr: addr.unwrap_or_else(|| unreachable!()),
        admin_addr: admin_addr.unwrap_or_else(|| unreachable!()),
        onboarding_url,
    };
    (child, log, ready)
}

/// A second `nuage serve` process on the same database as `first`.
///
/// It serves the same instances under the same domains, so requests to it
/// carry the first server's `Host` (`localhost:FIRST_PORT`) while they are
/// sent to its own socket, as a load balancer would forward them.
pub struct Sibling<'a> {
    pub first: &'a Server,
    pub addr: SocketAddr,
    pub admin_addr: SocketAddr,
    log: Arc<Mutex<String>>,
    // The process is killed before its data folder goes.
    child: KillOnDrop,
    data: TempDir,
}

impl Sibling<'_> {
    /// What this process printed so far, for failure messages.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// A `/data` client sending to this process, for the first instance.
    pub fn couch(&self, token: &str) -> super::Couch {
        super::Couch::new(
            self.first.http(),
            format!("http://{}", self.addr),
            Some(self.first.domain.clone()),
            token,
        )
    }

    /// A WebSocket on this process, for the first instance.
    pub async fn realtime(&self, name: &str) -> super::Realtime {
        super::Realtime::connect(self.addr, &self.first.domain, name).await
    }
}

/// Reads `from` line by line into `log`, and into `lines` while someone
/// listens. A thread of its own: the pipe must be drained even while the
/// test is busy, or the server would block writing.
fn collect(
    from: Option<impl Read + Send + 'static>,
    log: Arc<Mutex<String>>,
    lines: Option<mpsc::UnboundedSender<String>>,
) {
    let Some(from) = from else { return };
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines() {
            let Ok(line) = line else { break };
            if let Ok(mut log) = log.lock() {
                log.push_str(&line);
                log.push('\n');
            }
            if let Some(tx) = &lines {
                let _ = tx.send(line);
            }
        }
    });
}

fn parse_addr(s: &str, line: &str) -> SocketAddr {
    s.parse()
        .unwrap_or_else(|e| panic!("no socket address in {line:?}: {e}"))
}

pub fn assert_success(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "`{what}` failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Commands that print a secret print it alone, so scripts can capture it.
fn alone_on_stdout(stdout: &str, prefix: &str) -> String {
    let secret = stdout.trim_end_matches('\n');
    assert!(
        secret.starts_with(prefix)
            && secret.len() > prefix.len() + 20
            && !secret.contains(char::is_whitespace),
        "expected a `{prefix}…` secret alone on stdout, got {stdout:?}"
    );
    secret.to_owned()
}
