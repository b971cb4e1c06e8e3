//! PouchDB, the CouchDB replication protocol's most used client, replicating
//! with nuage's `/data/{doctype}/` API: `conformance/pouchdb/scenarios.mjs`
//! (PouchDB 9 in Node, in-memory local databases) run against the real
//! binary, on SQLite and on PostgreSQL. The same script passes against
//! pouchdb-server (`conformance/pouchdb/run-against-pouchdb-server.sh`).
//!
//! Needs Node.js ≥ 20 and npm; `conformance/pouchdb/install.sh` installs the
//! pinned packages from the lock file (a no-op once done).

mod common;

use common::Server;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};

scenarios!(
    push_then_pull_keeps_every_revision,
    concurrent_offline_edits_converge_on_one_winner,
    interrupted_push_resumes_from_its_checkpoint_after_a_restart,
    attachments_round_trip_byte_for_byte,
);

/// The doctypes the scenarios create: one fresh `io.nuage.conformance.*`
/// doctype per scenario, which the token's scope covers.
const SCOPE: &str = "io.nuage.conformance.*";
/// No scenario may run longer than this.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(300);
/// Documents pushed and pulled (the 10,000 unless overridden).
fn docs() -> String {
    std::env::var("NUAGE_POUCHDB_DOCS").unwrap_or_else(|_| "10000".into())
}

async fn push_then_pull_keeps_every_revision(server: Server) {
    let r = run(&server, &["push-pull", &docs()]).await;
    let n: u64 = docs().parse().expect("NUAGE_POUCHDB_DOCS is a number");
    assert_eq!(r["push"]["docs_written"], n, "{r}");
    assert_eq!(r["pull"]["docs_written"], n, "{r}");
    eprintln!(
        "{:?}: {n} documents, push {} ms, pull {} ms; client alone {} / {} ms",
        server.engine,
        r["timings_ms"]["push"],
        r["timings_ms"]["pull"],
        r["client_baseline_ms"]["push"],
        r["client_baseline_ms"]["pull"]
    );
}

async fn concurrent_offline_edits_converge_on_one_winner(server: Server) {
    let r = run(&server, &["conflict"]).await;
    let winner = r["winner"].as_str().expect("winner");
    for db in ["A", "B", "remote"] {
        assert_eq!(r["states_in_conflict"][db]["rev"], winner, "{r}");
        assert_eq!(
            r["states_in_conflict"][db]["conflicts"], r["conflicts"],
            "{r}"
        );
        assert_eq!(r["states_resolved"][db]["rev"], winner, "{r}");
    }
}

/// The client pushes through a second `nuage serve` process on the same
/// store, and pauses once half is written and checkpointed. That process is
/// killed (SIGKILL, as in a crash) and a new one takes over; the push goes on
/// from the checkpoint it reads back from the store, not from the start.
async fn interrupted_push_resumes_from_its_checkpoint_after_a_restart(server: Server) {
    let n: u64 = 2000;
    let first = server.start_sibling().await;
    let connect = first.addr.to_string();
    let mut child =
        scenario_process(&server, &["resume", &n.to_string(), "--connect", &connect]).await;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    let stderr = drain(child.stderr.take().expect("piped stderr"));

    let paused = tokio::time::timeout(SCENARIO_TIMEOUT, wait_for_pause(&mut stdout))
        .await
        .unwrap_or_else(|_| {
            panic!("the resume scenario did not reach PAUSE within {SCENARIO_TIMEOUT:?}")
        });
    if !paused {
        let status = child.wait().await;
        panic!(
            "the resume scenario ended ({status:?}) before PAUSE:\n{}\nserver log:\n{}",
            stderr.await.unwrap_or_default(),
            first.log()
        );
    }
    let first_log = first.log();
    drop(first);
    let second = server.start_sibling().await;
    stdin
        .write_all(format!("CONNECT {}\n", second.addr).as_bytes())
        .await
        .expect("answer PAUSE");
    drop(stdin);
    let r = finish(child, stdout, stderr, || {
        format!(
            "{first_log}---- killed; the next process ----\n{}",
            second.log()
        )
    })
    .await;
    let phase2 = &r["phase2"];
    let resent = phase2["bulk_docs_docs"].as_u64().expect("bulk_docs_docs");
    assert!(
        resent < n,
        "the resumed push sent {resent} of {n} documents again: {r}"
    );
    assert!(
        phase2["resumed_from_checkpoint_seq"].is_number(),
        "no checkpoint was read back after the restart: {r}"
    );
}

async fn attachments_round_trip_byte_for_byte(server: Server) {
    let r = run(&server, &["attachments"]).await;
    assert!(
        r["attachments"].as_array().is_some_and(|a| a.len() >= 8),
        "{r}"
    );
}

// ---------------------------------------------------------------- plumbing

fn pouchdb_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../conformance/pouchdb")
}

/// `install.sh` once per test binary; every scenario waits for it.
fn install() {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    let done = DONE.get_or_init(|| {
        let out = std::process::Command::new(pouchdb_dir().join("install.sh"))
            .output()
            .map_err(|e| format!("cannot run conformance/pouchdb/install.sh: {e} (are bash, Node.js 20 and npm installed?)"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "conformance/pouchdb/install.sh failed ({}):\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    });
    if let Err(e) = done {
        panic!("{e}");
    }
}

/// `node scenarios.mjs ARGS --base http://localhost:PORT/data/`, with a
/// bearer token for the scenarios' doctypes in its environment.
async fn scenario_process(server: &Server, args: &[&str]) -> Child {
    install();
    let token = server.cli_token(SCOPE, None).await;
    Command::new("node")
        .arg(pouchdb_dir().join("scenarios.mjs"))
        .args(args)
        .args(["--base", &server.url("/data/")])
        .args(["--timeout", &SCENARIO_TIMEOUT.as_secs().to_string()])
        .env("POUCH_TOKEN", token)
        .env_remove("POUCH_URL")
        .env_remove("POUCH_BASE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("run node (Node.js 20 must be installed)")
}

/// Runs a scenario to its end; its JSON result, which must say `ok`.
async fn run(server: &Server, args: &[&str]) -> Value {
    let mut child = scenario_process(server, args).await;
    drop(child.stdin.take());
    let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    let stderr = drain(child.stderr.take().expect("piped stderr"));
    finish(child, stdout, stderr, || server.log()).await
}

/// Reads stdout lines until `PAUSE` (true) or the end (false).
async fn wait_for_pause(stdout: &mut BufReader<ChildStdout>) -> bool {
    let mut line = String::new();
    loop {
        line.clear();
        match stdout.read_line(&mut line).await {
            Ok(0) | Err(_) => return false,
            Ok(_) if line.trim_end() == "PAUSE" => return true,
            Ok(_) => {}
        }
    }
}

fn drain(
    mut from: impl tokio::io::AsyncRead + Unpin + Send + 'static,
) -> tokio::task::JoinHandle<String> {
    tokio::spawn(async move {
        let mut s = String::new();
        let _ = from.read_to_string(&mut s).await;
        s
    })
}

/// Waits (bounded) for the scenario to end; its last stdout line is the
/// JSON result, which must say `"ok": true`.
async fn finish(
    mut child: Child,
    mut stdout: BufReader<ChildStdout>,
    stderr: tokio::task::JoinHandle<String>,
    server_log: impl Fn() -> String,
) -> Value {
    let ended = tokio::time::timeout(SCENARIO_TIMEOUT, async {
        let mut out = String::new();
        let _ = stdout.read_to_string(&mut out).await;
        (child.wait().await, out)
    })
    .await;
    let Ok((status, out)) = ended else {
        let _ = child.kill().await;
        panic!(
            "the scenario took over {SCENARIO_TIMEOUT:?}; server log:\n{}",
            server_log()
        );
    };
    let stderr = stderr.await.unwrap_or_default();
    let result: Option<Value> = out
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok());
    match result {
        Some(r) if r["ok"] == true && status.as_ref().is_ok_and(|s| s.success()) => r,
        _ => panic!(
            "PouchDB scenario failed ({status:?}):\n{stderr}\nresult: {out}\nserver log:\n{}",
            server_log()
        ),
    }
}
