#!/usr/bin/env python3
"""Foundation benchmark for nuage: memory, start-up time, request throughput.

Measures, on SQLite and (unless --no-postgres) on PostgreSQL:

  1. idle resident memory (VmRSS) of `nuage serve` with one instance,
     after a few requests and ~2 s of rest;
  2. resident memory with 1,000 instances, each touched by one request;
  3. time from process spawn to the first answered `GET /status`
     (median of N warm starts on a migrated data dir, plus the very first
     start on an empty one, which includes the migrations);
  4. authenticated `GET /settings/instance` with wrk: requests/s and p99.

Standard library only. Builds nothing: run `cargo build --release -p nuage`
first. Every process, temporary folder and database it creates is removed
at the end, also on failure or Ctrl-C. A missed target is reported, not
turned into a failing exit code; only a broken run exits non-zero.

    python3 bench/foundation.py [--binary PATH] [--no-postgres] [--json FILE]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, asdict
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BINARY = REPO_ROOT / "target" / "release" / "nuage"
DEFAULT_PG = "postgres://postgres@127.0.0.1:5432"

# The targets.
TARGET_IDLE_RSS_MB = 25.0
TARGET_1K_RSS_MB = 60.0
TARGET_START_MS = 300.0
TARGET_RPS = 15_000.0
TARGET_P99_MS = 5.0

SETTLE_S = 2.0            # rest before reading VmRSS
SERVER_READY_S = 30.0     # longest wait for a server to answer
STOP_GRACE_S = 10.0       # SIGTERM, then SIGKILL after this
CLI_TIMEOUT_S = 60.0      # any one `nuage …` command
HTTP_TIMEOUT_S = 10.0


class BenchError(Exception):
    """A broken run (not a missed target)."""


class Interrupted(BaseException):
    """SIGTERM / SIGHUP, handled like Ctrl-C."""


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Everything made here is registered, and removed by `Cleanup.run`.


class Cleanup:
    def __init__(self) -> None:
        self.servers: list[Server] = []
        self.procs: list[subprocess.Popen] = []
        self.dirs: list[Path] = []
        self.databases: list[tuple[str, str]] = []  # (admin url, db name)

    def tempdir(self, tag: str) -> Path:
        d = Path(tempfile.mkdtemp(prefix=f"nuage-bench-{tag}-"))
        self.dirs.append(d)
        return d

    def run(self) -> None:
        for s in list(self.servers):
            try:
                s.stop()
            except Exception as e:  # keep cleaning
                log(f"cleanup: stopping server {s.pid}: {e}")
        for p in list(self.procs):
            stop_process(p)
        for url, name in list(self.databases):
            try:
                psql(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            except Exception as e:
                log(f"cleanup: could not drop database {name}: {e}")
        for d in list(self.dirs):
            shutil.rmtree(d, ignore_errors=True)
        self.servers.clear()
        self.procs.clear()
        self.databases.clear()
        self.dirs.clear()


CLEANUP = Cleanup()


def stop_process(p: subprocess.Popen) -> None:
    if p.poll() is not None:
        return
    try:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(timeout=STOP_GRACE_S)
    except ProcessLookupError:
        pass


# --------------------------------------------------------------------------
# Small helpers


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without anything that would point nuage
    elsewhere (data folder, database, config, addresses, secret)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("NUAGE_") and k not in ("DATABASE_URL", "RUST_LOG")
    }
    env.update(extra or {})
    return env


def rss_kb(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) in kB."""
    rss = hwm = -1
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    if rss < 0:
        raise BenchError(f"no VmRSS in /proc/{pid}/status")
    return rss, hwm


def thread_count(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return -1


def psql(admin_url: str, sql: str) -> str:
    r = subprocess.run(
        ["psql", admin_url, "-v", "ON_ERROR_STOP=1", "-tAc", sql],
        capture_output=True, text=True, timeout=CLI_TIMEOUT_S,
    )
    if r.returncode != 0:
        raise BenchError(f"psql failed ({sql!r}): {r.stderr.strip()}")
    return r.stdout.strip()


def http_get(port: int, path: str, host: str, headers: dict[str, str] | None = None,
             conn: http.client.HTTPConnection | None = None) -> tuple[int, bytes]:
    own = conn is None
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=HTTP_TIMEOUT_S)
    try:
        h = {"Host": host}
        h.update(headers or {})
        c.request("GET", path, headers=h)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        if own:
            c.close()


# --------------------------------------------------------------------------
# One `nuage serve` process


@dataclass
class Engine:
    name: str                 # "sqlite" | "postgres"
    pg_admin_url: str = ""    # postgres://user@host:port (no database)

    def new_store(self, tag: str) -> tuple[Path, str | None]:
        """A fresh data folder and, on PostgreSQL, a fresh database; returns
        (data dir, database url or None)."""
        data = CLEANUP.tempdir(f"{self.name}-{tag}")
        if self.name == "sqlite":
            return data, None
        name = f"nuage_bench_{os.getpid()}_{secrets.token_hex(3)}_{tag}".replace("-", "_")
        admin = f"{self.pg_admin_url}/postgres"
        psql(admin, f'CREATE DATABASE "{name}"')
        CLEANUP.databases.append((admin, name))
        return data, f"{self.pg_admin_url}/{name}"


def store_args(data: Path, db_url: str | None) -> list[str]:
    args = ["--data", str(data)]
    if db_url:
        args += ["--database-url", db_url]
    return args


class Server:
    def __init__(self, binary: Path, data: Path, db_url: str | None,
                 admin_secret: str | None = None, port: int | None = None) -> None:
        self.binary = binary
        self.data = data
        self.db_url = db_url
        self.port = port or free_port()
        self.admin_port = free_port()
        while self.admin_port == self.port:
            self.admin_port = free_port()
        self.admin_secret = admin_secret
        self.stdout_lines: list[str] = []
        self.listening = threading.Event()
        self.log_path = data / f"serve-{self.port}.log"
        self.proc: subprocess.Popen | None = None
        self.spawned_at = 0.0

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc else -1

    def start(self) -> None:
        env = clean_env({"NUAGE_ADMIN_SECRET": self.admin_secret} if self.admin_secret else None)
        cmd = [str(self.binary), "serve", *store_args(self.data, self.db_url),
               "--listen", f"127.0.0.1:{self.port}",
               "--admin-listen", f"127.0.0.1:{self.admin_port}"]
        self._log = open(self.log_path, "ab")
        CLEANUP.servers.append(self)
        self.spawned_at = time.perf_counter()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self._log, env=env, text=True)
        threading.Thread(target=self._read_stdout, daemon=True).start()

    def _read_stdout(self) -> None:
        assert self.proc and self.proc.stdout
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            self.stdout_lines.append(line)
            if line.startswith("nuage: listening on"):
                self.listening.set()

    def check_alive(self) -> None:
        if self.proc and self.proc.poll() is not None:
            raise BenchError(f"nuage serve exited with code {self.proc.returncode}\n{self.log_tail()}")

    def log_tail(self, n: int = 20) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()[-n:]
        except OSError:
            return ""
        return "  server log (last lines):\n" + "\n".join("    " + l for l in lines)

    def wait_first_status(self, timeout: float = SERVER_READY_S) -> float:
        """Polls GET /status in a tight loop of connect attempts; returns the
        seconds from spawn to the first 200 answer."""
        deadline = self.spawned_at + timeout
        req = (f"GET /status HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
               "Connection: close\r\n\r\n").encode()
        addr = ("127.0.0.1", self.port)
        while True:
            now = time.perf_counter()
            if now > deadline:
                raise BenchError(f"no answer to GET /status within {timeout:.0f} s\n{self.log_tail()}")
            assert self.proc
            if self.proc.poll() is not None:
                self.check_alive()
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.settimeout(max(0.05, deadline - now))
                try:
                    s.connect(addr)
                except (ConnectionRefusedError, ConnectionResetError):
                    continue
                s.sendall(req)
                buf = b""
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    buf += chunk
                done = time.perf_counter()
            except (ConnectionResetError, BrokenPipeError, socket.timeout):
                continue
            finally:
                s.close()
            if buf.startswith(b"HTTP/1.1 200"):
                return done - self.spawned_at

    def wait_ready(self, timeout: float = SERVER_READY_S) -> None:
        """Waits for the `listening` line, then for /status to answer."""
        deadline = time.monotonic() + timeout
        while not self.listening.wait(0.05):
            self.check_alive()
            if time.monotonic() > deadline:
                raise BenchError(f"nuage serve did not print `listening` within {timeout:.0f} s\n{self.log_tail()}")
        self.wait_first_status(timeout)

    def onboarding_domain(self) -> str | None:
        for line in self.stdout_lines:
            m = re.search(r"open https?://([^/\s]+)/auth/onboarding", line)
            if m:
                return m.group(1)
        return None

    def rss_mb(self) -> tuple[float, float]:
        rss, hwm = rss_kb(self.pid)
        return rss / 1024.0, hwm / 1024.0

    def stop(self) -> None:
        if self.proc:
            stop_process(self.proc)
        if getattr(self, "_log", None):
            self._log.close()
        if self in CLEANUP.servers:
            CLEANUP.servers.remove(self)


def nuage_cli(binary: Path, args: list[str]) -> str:
    try:
        r = subprocess.run([str(binary), *args], capture_output=True, text=True,
                           timeout=CLI_TIMEOUT_S, env=clean_env(), stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise BenchError(f"`nuage {' '.join(args)}` took more than {CLI_TIMEOUT_S:.0f} s")
    if r.returncode != 0:
        raise BenchError(f"`nuage {' '.join(args)}` failed: {r.stderr.strip()}")
    return r.stdout.strip()


# --------------------------------------------------------------------------
# Results


@dataclass
class Row:
    metric: str
    engine: str
    measured: float | None
    unit: str
    target: str
    status: str              # PASS | FAIL | INFO | ERROR | SKIPPED
    note: str = ""
    details: dict = field(default_factory=dict)

    def measured_text(self) -> str:
        if self.measured is None:
            return "-"
        if self.unit == "req/s":
            return f"{self.measured:,.0f} {self.unit}"
        return f"{self.measured:.1f} {self.unit}"


def judged(metric: str, engine: str, value: float, unit: str, limit: float,
           at_least: bool = False, **kw) -> Row:
    ok = value >= limit if at_least else value <= limit
    if unit == "req/s":
        target = f">= {limit:,.0f} {unit}"
    else:
        target = f"{'>=' if at_least else '<='} {limit:g} {unit}"
    return Row(metric, engine, value, unit, target, "PASS" if ok else "FAIL", **kw)


# --------------------------------------------------------------------------
# The measurements


def parse_wrk(out: str) -> dict:
    def dur_ms(v: str, u: str) -> float:
        return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[u]

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not rps:
        raise BenchError(f"cannot read wrk's output:\n{out}")
    res: dict = {"requests_per_s": float(rps.group(1))}
    for pct in ("50", "75", "90", "99"):
        m = re.search(rf"^\s*{pct}%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
        if m:
            res[f"p{pct}_ms"] = dur_ms(m.group(1), m.group(2))
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", out)
    if m:
        res["requests"] = int(m.group(1))
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    res["non_2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    res["socket_errors"] = sum(int(x) for x in m.groups()) if m else 0
    return res


def run_wrk(url: str, host: str, token: str, seconds: int, threads: int, conns: int) -> tuple[dict, str]:
    cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s", "--latency",
           "-H", f"Authorization: Bearer {token}", "-H", f"Host: {host}", url]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    CLEANUP.procs.append(p)
    try:
        out, _ = p.communicate(timeout=seconds + 30)
    except subprocess.TimeoutExpired:
        raise BenchError(f"wrk did not finish within {seconds + 30} s")
    finally:
        stop_process(p)  # no-op unless interrupted or too slow
        CLEANUP.procs.remove(p)
    if p.returncode != 0:
        raise BenchError(f"wrk failed ({p.returncode}):\n{out}")
    return parse_wrk(out), out


def bench_engine(engine: Engine, binary: Path, opts: argparse.Namespace) -> list[Row]:
    rows: list[Row] = []
    e = engine.name

    def attempt(label: str, fn) -> None:
        try:
            fn()
        except (BenchError, OSError, http.client.HTTPException, subprocess.SubprocessError) as err:
            log(f"{e}: {label} failed: {err!r}")
            first = (str(err).splitlines() or [type(err).__name__])[0]
            rows.append(Row(label, e, None, "", "", "ERROR", note=first))
        finally:
            # Whatever failed, no server of this step outlives it.
            for s in list(CLEANUP.servers):
                s.stop()

    # -- first start on an empty store, then idle memory with one instance --
    try:
        data, db_url = engine.new_store("one")
    except BenchError as err:
        return [Row("all", e, None, "", "", "ERROR", note=str(err))]
    ctx: dict = {}

    def first_start_and_idle() -> None:
        log(f"{e}: first start on an empty store")
        srv = Server(binary, data, db_url)
        srv.start()
        t = srv.wait_first_status()
        rows.append(Row("start: first ever (empty store, migrations)", e, t * 1000, "ms",
                        f"(<= {TARGET_START_MS:g} ms applies to warm starts)", "INFO"))
        # The onboarding line names the instance made on first start.
        deadline = time.monotonic() + 5
        while srv.onboarding_domain() is None and time.monotonic() < deadline:
            srv.check_alive()
            time.sleep(0.01)
        domain = srv.onboarding_domain() or f"localhost:{srv.port}"
        ctx["domain"] = domain
        token = nuage_cli(binary, ["token", domain, "--scope", "io.nuage.settings:GET",
                                   "--ttl", "7200", *store_args(data, db_url)])
        if not token:
            raise BenchError("`nuage token` printed nothing")
        ctx["token"] = token
        # A few requests of each kind, then rest.
        auth = {"Authorization": f"Bearer {token}"}
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=HTTP_TIMEOUT_S)
        try:
            for _ in range(3):
                for path, hdrs in (("/status", {}), ("/auth/login", {}), ("/settings/instance", auth)):
                    st, body = http_get(srv.port, path, domain, hdrs, conn)
                    if st != 200:
                        raise BenchError(f"GET {path} on {domain} answered {st}: {body[:200]!r}")
        finally:
            conn.close()
        time.sleep(SETTLE_S)
        rss, hwm = srv.rss_mb()
        rows.append(judged("idle RSS, 1 instance", e, rss, "MB", TARGET_IDLE_RSS_MB,
                           details={"vm_hwm_mb": round(hwm, 1), "threads": thread_count(srv.pid)}))
        log(f"{e}: idle RSS {rss:.1f} MB (peak {hwm:.1f} MB, {thread_count(srv.pid)} threads)")
        srv.stop()

    attempt("start + idle RSS, 1 instance", first_start_and_idle)

    # -- warm starts: existing, migrated store with one instance --
    def warm_starts() -> None:
        if "domain" not in ctx:
            raise BenchError("skipped: the first start failed")
        times = []
        deadline = time.monotonic() + max(60.0, opts.start_runs * 10.0)
        for i in range(opts.start_runs):
            if time.monotonic() > deadline:
                break
            srv = Server(binary, data, db_url)
            srv.start()
            times.append(srv.wait_first_status() * 1000)
            srv.stop()
            time.sleep(0.2)
        med = statistics.median(times)
        rows.append(judged(f"start to first answer (median of {len(times)})", e, med, "ms",
                           TARGET_START_MS,
                           note=f"min {min(times):.0f}, max {max(times):.0f} ms",
                           details={"runs_ms": [round(t, 1) for t in times]}))
        if e != "sqlite":
            rows[-1].status = "INFO"
            rows[-1].target += " (SQLite only)"
        log(f"{e}: warm starts (ms): {', '.join(f'{t:.0f}' for t in times)}")

    attempt("start to first answer", warm_starts)

    # -- throughput: authenticated GET /settings/instance --
    def throughput() -> None:
        if "token" not in ctx:
            raise BenchError("skipped: no token (the first start failed)")
        if not shutil.which("wrk"):
            rows.append(Row("GET /settings/instance", e, None, "", f">= {TARGET_RPS:,.0f} req/s",
                            "SKIPPED", note="wrk not found: install it (apt-get install -y wrk)"))
            return
        srv = Server(binary, data, db_url)
        srv.start()
        srv.wait_ready()
        domain, token = ctx["domain"], ctx["token"]
        st, body = http_get(srv.port, "/settings/instance", domain, {"Authorization": f"Bearer {token}"})
        if st != 200:
            raise BenchError(f"GET /settings/instance answered {st} before wrk: {body[:200]!r}")
        url = f"http://127.0.0.1:{srv.port}/settings/instance"
        log(f"{e}: wrk warm-up ({opts.warmup} s)")
        run_wrk(url, domain, token, opts.warmup, opts.wrk_threads, opts.wrk_connections)
        log(f"{e}: wrk {opts.wrk_threads} threads, {opts.wrk_connections} connections, {opts.duration} s")
        res, out = run_wrk(url, domain, token, opts.duration, opts.wrk_threads, opts.wrk_connections)
        rss, hwm = srv.rss_mb()
        time.sleep(SETTLE_S)
        rss_settled, _ = srv.rss_mb()
        srv.stop()
        note = ""
        bad = res["non_2xx"] + res["socket_errors"]
        if bad:
            note = f"{res['non_2xx']} non-2xx answers, {res['socket_errors']} socket errors: numbers are not valid"
        details = dict(res, rss_after_mb=round(rss, 1), vm_hwm_mb=round(hwm, 1), wrk_output=out)
        r1 = judged("GET /settings/instance throughput", e, res["requests_per_s"], "req/s",
                    TARGET_RPS, at_least=True, note=note, details=details)
        if "p99_ms" not in res:
            raise BenchError(f"no 99% latency line in wrk's output:\n{out}")
        r2 = judged("GET /settings/instance p99 latency", e, res["p99_ms"], "ms", TARGET_P99_MS,
                    note=f"p50 {res.get('p50_ms', float('nan')):.2f} ms, p90 {res.get('p90_ms', float('nan')):.2f} ms")
        if bad:
            r1.status = r2.status = "ERROR"
        # Not a target of the issue: whether memory comes back after load.
        r3 = Row("RSS after the wrk run, settled", e, rss_settled, "MB",
                 f"(idle target {TARGET_IDLE_RSS_MB:g} MB)", "INFO",
                 note=f"{rss:.1f} MB at the end of the run, peak {hwm:.1f} MB")
        rows.extend([r1, r2, r3])
        log(f"{e}: {res['requests_per_s']:,.0f} req/s, p99 {res['p99_ms']:.2f} ms; RSS after {rss:.1f} MB")

    attempt("GET /settings/instance", throughput)

    # -- 1,000 instances --
    def thousand() -> None:
        n = opts.instances
        data2, db2 = engine.new_store("many")
        secret = "nas_bench_" + secrets.token_hex(16)
        srv = Server(binary, data2, db2, admin_secret=secret)
        srv.start()
        srv.wait_ready()
        rss0, _ = srv.rss_mb()
        domains = [f"d{i}.localhost" for i in range(n)]
        deadline = time.monotonic() + opts.create_timeout
        local = threading.local()

        def conn_for(port: int) -> http.client.HTTPConnection:
            c = getattr(local, "conn", None)
            if c is None:
                c = local.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=HTTP_TIMEOUT_S)
            return c

        def create(domain: str) -> None:
            if time.monotonic() > deadline:
                raise BenchError(f"creating {n} instances took more than {opts.create_timeout:.0f} s")
            c = conn_for(srv.admin_port)
            c.request("POST", "/instances", body=json.dumps({"domain": domain}),
                      headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"})
            r = c.getresponse()
            body = r.read()
            if r.status != 201:
                raise BenchError(f"POST /instances {domain} answered {r.status}: {body[:200]!r}")

        log(f"{e}: creating {n} instances through the admin API")
        t0 = time.monotonic()
        with ThreadPoolExecutor(max_workers=4) as pool:
            for f in [pool.submit(create, d) for d in domains]:
                f.result()
        create_s = time.monotonic() - t0
        srv.check_alive()
        rss_created, _ = srv.rss_mb()

        log(f"{e}: one GET /auth/login per instance")
        t0 = time.monotonic()
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=HTTP_TIMEOUT_S)
        try:
            for d in domains:
                if time.monotonic() > deadline:
                    raise BenchError(f"touching {n} instances took more than {opts.create_timeout:.0f} s")
                st, body = http_get(srv.port, "/auth/login", d, None, conn)
                if st == 404 or st >= 500:
                    raise BenchError(f"GET /auth/login on {d} answered {st}: {body[:200]!r}")
        finally:
            conn.close()
        touch_s = time.monotonic() - t0
        time.sleep(SETTLE_S)
        rss, hwm = srv.rss_mb()
        threads = thread_count(srv.pid)
        srv.stop()
        rows.append(judged(f"RSS, {n} instances touched", e, rss, "MB", TARGET_1K_RSS_MB,
                           note=f"{rss0:.1f} MB before creating, {rss_created:.1f} MB after",
                           details={"rss_before_mb": round(rss0, 1), "rss_after_create_mb": round(rss_created, 1),
                                    "vm_hwm_mb": round(hwm, 1), "threads": threads,
                                    "create_s": round(create_s, 2), "touch_s": round(touch_s, 2)}))
        log(f"{e}: {n} instances: created in {create_s:.1f} s, touched in {touch_s:.1f} s, "
            f"RSS {rss0:.1f} -> {rss_created:.1f} -> {rss:.1f} MB (peak {hwm:.1f} MB)")

    attempt(f"RSS, {opts.instances} instances", thousand)
    return rows


# --------------------------------------------------------------------------
# Report


def machine_info(binary: Path, pg_admin_url: str | None) -> dict:
    info: dict = {"kernel": platform.release(), "python": platform.python_version(),
                  "cpus": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            info["memory_mb"] = int(f.readline().split()[1]) // 1024
    except OSError:
        pass
    try:
        info["nuage"] = subprocess.run([str(binary), "--version"], capture_output=True, text=True,
                                       timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        pass
    info["binary"] = str(binary)
    try:
        git = ["git", "-C", str(REPO_ROOT)]
        head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run([*git, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        if head:
            info["commit"] = head + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.TimeoutExpired):
        pass
    info["binary_built"] = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(binary.stat().st_mtime))
    if shutil.which("wrk"):
        r = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=10)
        info["wrk"] = (r.stdout or r.stderr).splitlines()[0] if (r.stdout or r.stderr) else "?"
    if pg_admin_url:
        try:
            info["postgres"] = psql(f"{pg_admin_url}/postgres", "SHOW server_version")
        except BenchError:
            pass
    return info


def print_table(rows: list[Row]) -> None:
    head = ("metric", "engine", "measured", "target", "result")
    body = [(r.metric, r.engine, r.measured_text(), r.target, r.status) for r in rows]
    widths = [max(len(x[i]) for x in [head, *body]) for i in range(5)]
    line = "  ".join("-" * w for w in widths)
    print()
    print("  ".join(h.ljust(w) for h, w in zip(head, widths)))
    print(line)
    for b, r in zip(body, rows):
        print("  ".join(c.ljust(w) for c, w in zip(b, widths)))
        if r.note:
            print(" " * (widths[0] + 2) + f"  ^ {r.note}")
    print(line)
    failed = [r for r in rows if r.status == "FAIL"]
    errors = [r for r in rows if r.status in ("ERROR", "SKIPPED")]
    if failed:
        print(f"MISSED TARGETS: {len(failed)}")
        for r in failed:
            print(f"  - {r.metric} [{r.engine}]: {r.measured_text()} (target {r.target})")
    else:
        print("All measured targets met." if not errors else "No missed target among those measured.")
    if errors:
        print(f"NOT MEASURED: {len(errors)}")
        for r in errors:
            print(f"  - {r.metric} [{r.engine}]: {r.status}: {r.note}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("binary", nargs="?", default=None, metavar="PATH",
                    help=f"path of the nuage binary (default: {DEFAULT_BINARY.relative_to(REPO_ROOT)} in the repository)")
    ap.add_argument("--binary", dest="binary_opt", default=None, metavar="PATH", help="same as the positional argument")
    ap.add_argument("--no-postgres", action="store_true", help="measure on SQLite only")
    ap.add_argument("--postgres-url", default=DEFAULT_PG,
                    help=f"PostgreSQL server, without database; scratch databases are made and dropped there (default {DEFAULT_PG})")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    ap.add_argument("--start-runs", type=int, default=10, help="warm starts to time (default 10)")
    ap.add_argument("--instances", type=int, default=1000, help="instances for the memory test (default 1000)")
    ap.add_argument("--create-timeout", type=float, default=300.0,
                    help="longest time to create and touch the instances, in seconds (default 300)")
    ap.add_argument("--duration", type=int, default=10, help="wrk run, seconds (default 10)")
    ap.add_argument("--warmup", type=int, default=3, help="wrk warm-up, seconds (default 3)")
    ap.add_argument("--wrk-threads", type=int, default=2)
    ap.add_argument("--wrk-connections", type=int, default=32)
    opts = ap.parse_args()
    sys.stdout.reconfigure(line_buffering=True)

    binary = Path(opts.binary_opt or opts.binary or DEFAULT_BINARY).resolve()
    if not binary.is_file() or not os.access(binary, os.X_OK):
        print(f"error: no nuage binary at {binary}.\n"
              f"Build it first, from {REPO_ROOT}:\n\n    cargo build --release -p nuage\n\n"
              "or give its path: python3 bench/foundation.py PATH/TO/nuage", file=sys.stderr)
        return 2

    engines = [Engine("sqlite")]
    if not opts.no_postgres:
        pg = opts.postgres_url.rstrip("/")
        if not shutil.which("psql"):
            print("error: psql not found; install the PostgreSQL client or pass --no-postgres", file=sys.stderr)
            return 2
        try:
            psql(f"{pg}/postgres", "SELECT 1")
        except (BenchError, subprocess.TimeoutExpired) as err:
            print(f"error: PostgreSQL at {pg} does not answer ({err}).\n"
                  "Start it, point --postgres-url at it, or pass --no-postgres.", file=sys.stderr)
            return 2
        engines.append(Engine("postgres", pg))
    if not shutil.which("wrk"):
        log("wrk not found: the throughput measurements will be skipped (apt-get install -y wrk)")

    def on_signal(signum, _frame):
        raise Interrupted(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    rows: list[Row] = []
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    info = machine_info(binary, engines[1].pg_admin_url if len(engines) > 1 else None)
    info["load_before"] = [round(x, 2) for x in os.getloadavg()]
    if info["load_before"][0] > 0.5:
        log(f"warning: the machine is busy (load average {info['load_before'][0]}): "
            "throughput, latency and start times will suffer; rerun on a quiet machine")
    log(f"nuage binary {binary} ({info.get('nuage', '?')}, built {info['binary_built']})")
    try:
        for engine in engines:
            rows.extend(bench_engine(engine, binary, opts))
    except (KeyboardInterrupt, Interrupted) as sig:
        log(f"interrupted ({str(sig) or 'SIGINT'}): cleaning up")
        return 130
    finally:
        # A second Ctrl-C must not cut the clean-up short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        CLEANUP.run()

    print(f"\nnuage foundation benchmark, {started}")
    print(f"machine: {info.get('cpu', '?')}, {info.get('cpus')} CPUs, {info.get('memory_mb', '?')} MB, "
          f"Linux {info['kernel']}" + (f", PostgreSQL {info['postgres']}" if "postgres" in info else ""))
    print(f"nuage: {info.get('nuage', '?')}, commit {info.get('commit', '?')}, binary built {info['binary_built']}")
    print(f"load average before the run (1, 5, 15 min): {info['load_before']}")
    print_table(rows)
    if opts.json:
        out = {"started": started, "machine": info,
               "targets": {"idle_rss_mb": TARGET_IDLE_RSS_MB, "rss_1k_instances_mb": TARGET_1K_RSS_MB,
                           "start_ms": TARGET_START_MS, "requests_per_s": TARGET_RPS,
                           "p99_ms": TARGET_P99_MS},
               "results": [asdict(r) for r in rows]}
        Path(opts.json).write_text(json.dumps(out, indent=2) + "\n")
        log(f"results written to {opts.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
