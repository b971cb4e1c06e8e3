"""Shared plumbing of the nuage benchmarks: servers, stores, clean-up, reports.

Every benchmark script in this folder starts real `nuage serve` processes
on scratch data folders and scratch PostgreSQL databases (`nuage_bench_*`),
drives them over HTTP from the standard library, and prints a table of
results against the issue's targets. What must stay true here:

- everything a script makes (process, folder, database) is registered in
  `CLEANUP` before it exists, and `run_engines` removes it at the end, also
  on failure, Ctrl-C, SIGTERM or SIGHUP;
- every wait is bounded in time (`SERVER_READY_S`, `CLI_TIMEOUT_S`,
  `HTTP_TIMEOUT_S`, or a deadline of the caller);
- only 127.0.0.1 is ever listened on or connected to;
- a missed target is a row of the report, not an exception: only a broken
  run (`BenchError`) or a missing prerequisite changes the exit code.

Standard library only (Python 3.11).
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import platform
import re
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BINARY = REPO_ROOT / "target" / "release" / "nuage"
DEFAULT_PG = "postgres://postgres@127.0.0.1:5432"

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

    def log_problems(self, most: int = 5) -> tuple[int, list[str]]:
        """How many WARN / ERROR lines the server logged, and the first few:
        a benchmark that passes while the server complains is worth a look."""
        count, first = 0, []
        try:
            with open(self.log_path, errors="replace") as f:
                for line in f:
                    if " WARN " in line or " ERROR " in line:
                        count += 1
                        if len(first) < most:
                            first.append(line.rstrip()[:400])
        except OSError:
            pass
        return count, first

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
    digits: int = 1           # decimals shown in the table

    def measured_text(self) -> str:
        if self.measured is None:
            return "-"
        if self.unit in ("req/s", "docs", "instances", "errors"):
            return f"{self.measured:,.0f} {self.unit}"
        if self.unit == "×":
            return f"{self.measured:,.{self.digits}f}×"
        return f"{self.measured:,.{self.digits}f} {self.unit}"


def judged(metric: str, engine: str, value: float, unit: str, limit: float,
           at_least: bool = False, **kw) -> Row:
    ok = value >= limit if at_least else value <= limit
    if unit == "req/s":
        target = f">= {limit:,.0f} {unit}"
    elif unit == "×":
        target = f"{'>=' if at_least else '<='} {limit:g}×"
    else:
        target = f"{'>=' if at_least else '<='} {limit:g} {unit}"
    return Row(metric, engine, value, unit, target, "PASS" if ok else "FAIL", **kw)


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


def print_header(title: str, started: str, info: dict) -> None:
    print(f"\n{title}, {started}")
    print(f"machine: {info.get('cpu', '?')}, {info.get('cpus')} CPUs, {info.get('memory_mb', '?')} MB, "
          f"Linux {info['kernel']}" + (f", PostgreSQL {info['postgres']}" if "postgres" in info else ""))
    print(f"nuage: {info.get('nuage', '?')}, commit {info.get('commit', '?')}, binary built {info['binary_built']}")
    print(f"load average before the run (1, 5, 15 min): {info['load_before']}")


def write_json(path: str, payload: dict) -> None:
    Path(path).write_text(json.dumps(payload, indent=2, default=str) + "\n")
    log(f"results written to {path}")


# --------------------------------------------------------------------------
# Command line and the run itself


def add_common_args(ap: argparse.ArgumentParser, script: str) -> None:
    """The options every benchmark shares: the binary, the engines, JSON."""
    ap.add_argument("binary", nargs="?", default=None, metavar="PATH",
                    help=f"path of the nuage binary (default: {DEFAULT_BINARY.relative_to(REPO_ROOT)} in the repository)")
    ap.add_argument("--binary", dest="binary_opt", default=None, metavar="PATH", help="same as the positional argument")
    ap.add_argument("--no-postgres", action="store_true", help="measure on SQLite only")
    ap.add_argument("--no-sqlite", action="store_true", help="measure on PostgreSQL only")
    ap.add_argument("--postgres-url", default=DEFAULT_PG,
                    help=f"PostgreSQL server, without database; scratch databases are made and dropped there (default {DEFAULT_PG})")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    ap.set_defaults(script=script)


def resolve_setup(opts: argparse.Namespace) -> tuple[Path, list[Engine]] | int:
    """The binary and the engines to measure, or an exit code (2) after
    saying what is missing."""
    binary = Path(opts.binary_opt or opts.binary or DEFAULT_BINARY).resolve()
    if not binary.is_file() or not os.access(binary, os.X_OK):
        print(f"error: no nuage binary at {binary}.\n"
              f"Build it first, from {REPO_ROOT}:\n\n    cargo build --release -p nuage\n\n"
              f"or give its path: python3 bench/{opts.script} PATH/TO/nuage", file=sys.stderr)
        return 2
    if opts.no_postgres and opts.no_sqlite:
        print("error: --no-postgres and --no-sqlite leave nothing to measure", file=sys.stderr)
        return 2
    engines = [] if opts.no_sqlite else [Engine("sqlite")]
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
    return binary, engines


def raise_nofile() -> None:
    """Lifts the soft open-files limit to the hard one, for this process and
    the servers it starts (many keep-alive connections, many instances)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 1 << 20, hard))
        except (ValueError, OSError):
            pass


def run_engines(engines: list[Engine], bench_engine) -> tuple[list[Row], int | None]:
    """Runs `bench_engine(engine) -> list[Row]` for each engine, then removes
    everything the run made. Returns the rows and, when interrupted, 130."""
    def on_signal(signum, _frame):
        raise Interrupted(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    rows: list[Row] = []
    try:
        for engine in engines:
            rows.extend(bench_engine(engine))
    except (KeyboardInterrupt, Interrupted) as sig:
        log(f"interrupted ({str(sig) or 'SIGINT'}): cleaning up")
        return rows, 130
    finally:
        # A second Ctrl-C must not cut the clean-up short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        CLEANUP.run()
    return rows, None


def attempt(rows: list[Row], engine: str, label: str, fn) -> bool:
    """Runs one measurement; a broken one becomes an ERROR row. Whatever
    happens, no server of this step outlives it."""
    try:
        fn()
        return True
    except (BenchError, OSError, http.client.HTTPException, subprocess.SubprocessError) as err:
        log(f"{engine}: {label} failed: {err!r}")
        first = (str(err).splitlines() or [type(err).__name__])[0]
        rows.append(Row(label, engine, None, "", "", "ERROR", note=first))
        return False
    finally:
        for s in list(CLEANUP.servers):
            s.stop()


# --------------------------------------------------------------------------
# Driving one instance over HTTP


@dataclass
class Reply:
    status: int
    body: bytes
    seconds: float

    def json(self):
        return json.loads(self.body) if self.body else None


class Client:
    """One keep-alive HTTP/1.1 connection to a nuage listener, speaking for
    one instance (`Host`) with one credential. Not thread-safe: one per
    thread. A failed request drops the connection; the next one reconnects.
    Nothing is retried, so a caller sees every failure."""

    def __init__(self, port: int, host: str, token: str | None = None,
                 timeout: float = HTTP_TIMEOUT_S) -> None:
        self.port, self.host, self.token, self.timeout = port, host, token, timeout
        self.conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body=None, timeout: float | None = None) -> Reply:
        headers = {"Host": self.host}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout or self.timeout)
        elif timeout is not None and self.conn.sock is not None:
            self.conn.sock.settimeout(timeout)
        t0 = time.perf_counter()
        try:
            self.conn.request(method, path, body=data, headers=headers)
            r = self.conn.getresponse()
            raw = r.read()
        except BaseException:
            self.close()
            raise
        took = time.perf_counter() - t0
        if timeout is not None and self.conn.sock is not None:
            self.conn.sock.settimeout(self.timeout)
        if r.getheader("Connection", "").lower() == "close":
            self.close()
        return Reply(r.status, raw, took)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def expect(reply: Reply, statuses: tuple[int, ...], what: str) -> Reply:
    if reply.status not in statuses:
        raise BenchError(f"{what} answered {reply.status}: {reply.body[:300]!r}")
    return reply


def create_instance(port: int, secret: str, domain: str, client: Client | None = None) -> None:
    c = client or Client(port, "127.0.0.1", secret)
    try:
        expect(c.request("POST", "/instances", {"domain": domain}), (201,), f"POST /instances {domain}")
    finally:
        if client is None:
            c.close()


def percentile(values, pct: float) -> float:
    """Nearest-rank percentile (pct in 0..100) of a non-empty sequence."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, math.ceil(pct / 100.0 * len(s)) - 1))
    return s[k]


def dir_size(path: Path, suffix: str = "") -> int:
    """Bytes in the files of a folder (not recursive) whose name ends with suffix."""
    total = 0
    try:
        for e in os.scandir(path):
            if e.is_file(follow_symlinks=False) and e.name.endswith(suffix):
                total += e.stat().st_size
    except OSError:
        pass
    return total


def fd_count(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def store_size(data: Path, db_url: str | None, pg_admin_url: str) -> int:
    """Bytes the store takes: the SQLite files, or the PostgreSQL database."""
    if db_url is None:
        return dir_size(data, ".db") + dir_size(data, ".db-wal") + dir_size(data, ".db-shm")
    name = db_url.rsplit("/", 1)[1]
    return int(psql(f"{pg_admin_url}/postgres", f"SELECT pg_database_size('{name}')") or 0)


def begin_run(binary: Path, engines: list[Engine], busy_warning: str) -> tuple[str, dict]:
    """The start time and what the report says about the machine; warns when
    the machine is already busy (on 2 cores, anything else shows first in
    the tail latencies)."""
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    pg = next((e.pg_admin_url for e in engines if e.name == "postgres"), None)
    info = machine_info(binary, pg)
    info["load_before"] = [round(x, 2) for x in os.getloadavg()]
    if info["load_before"][0] > 0.5:
        log(f"warning: the machine is busy (load average {info['load_before'][0]}): {busy_warning}")
    log(f"nuage binary {binary} ({info.get('nuage', '?')}, built {info['binary_built']})")
    return started, info


def run_main(opts: argparse.Namespace, title: str, summary: str, busy_warning: str, bench_engine,
             json_extra: dict, error_exit: int = 1) -> int:
    """What every benchmark's `main` does once its options are parsed: find
    the binary and the engines, measure each engine, clean up, print the
    report and write the JSON. Exit codes: 0 when everything was measured
    (missed targets included), `error_exit` when a measurement broke
    (ERROR rows), 2 for a missing binary or PostgreSQL, 130 when
    interrupted."""
    setup = resolve_setup(opts)
    if isinstance(setup, int):
        return setup
    binary, engines = setup
    raise_nofile()
    started, info = begin_run(binary, engines, busy_warning)
    rows, code = run_engines(engines, lambda engine: bench_engine(engine, binary, opts))
    if code is not None:
        return code
    print_header(title, started, info)
    if summary:
        print(summary)
    print_table(rows)
    if opts.json:
        options = {k: v for k, v in vars(opts).items() if k not in ("binary_opt",)}
        write_json(opts.json, {"started": started, "machine": info, "options": options, **json_extra,
                               "results": [asdict(r) for r in rows]})
    return error_exit if any(r.status == "ERROR" for r in rows) else 0
