#!/usr/bin/env python3
"""Bounds under attack: is a request past a bound refused quickly, with a
clear error, while other instances keep their latency?

The issue's requirement: "A request that would exceed a bound is refused
quickly with a clear error, and other instances' latency meanwhile stays
within 2x of idle", on SQLite and on PostgreSQL.

For each engine, one fresh server with a hostile instance A (and a small
quota instance Q, hostile too) and a victim instance B (a doctype of
--victim-docs documents with a Mango index). A victim probe sends
single-document PUTs (new documents) and GETs to B, one after the other on
one keep-alive connection, all along. Idle and hostile phases alternate
(--rounds of each, --phase-seconds long); in a hostile phase
--hostile-clients processes send requests past the server's bounds to A and
Q as fast as they are answered, every kind in turn. Then, unless
--kind-seconds is 0, each kind alone for a shorter phase between idle ones,
to tell which kind hurts the victim, and a control phase of cheap valid
requests by the same clients (what any flood costs). Targets: victim p50 and p99 in hostile
phases <= 2x the idle phases'; every hostile request refused with its
CouchDB error (`{"error","reason"}`, a reason that says what to do) within
1 s; 0 victim errors.

Standard library only. Builds nothing: run `cargo build --release -p nuage`
first. Every process, temporary folder and database it creates is removed
at the end, also on failure or Ctrl-C; every wait is bounded.

    python3 bench/bounds.py [--binary PATH] [--rounds 4] [--phase-seconds 15] [--no-postgres] [--json FILE]
"""

from __future__ import annotations

import argparse
import os
import http.client
import json
import random
import re
import secrets
import select
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from benchlib import (CLEANUP, BenchError, Client, Engine, Row, Server, add_common_args, attempt, create_instance,
                      expect, judged, log, nuage_cli, percentile, run_main, stop_process, store_args)

# The targets.
TARGET_RATIO = 2.0            # victim latency, hostile / idle (p50 and p99)
TARGET_REFUSAL_MS = 1000.0    # "refused quickly": the slowest refusal of a kind
TARGET_VICTIM_ERRORS = 0

HOSTILE = "io.bench.hostile"   # instance A's doctype
VICTIM = "io.bench.victim"     # instance B's doctype
QUOTA = "io.bench.quota"       # instance Q's doctype
A_DOMAIN, B_DOMAIN, Q_DOMAIN = "hostile.localhost", "victim.localhost", "quota.localhost"
TOKEN_TTL_S = 86_400
TAGS = ("red", "green", "blue", "amber")

# The server's bounds (crates/nuage-web/src/routes/data/mod.rs, crates/nuage-docs/src).
DATA_BODY_LIMIT = 64 * 1024 * 1024      # DATA_BODY_LIMIT: a /data request body
MAX_BATCH = 10_000                      # MAX_BULK_DOCS, MAX_BULK_GET, MAX_ALL_DOCS_KEYS
MAX_DOC_BYTES = 8 * 1024 * 1024         # DEFAULT_MAX_DOC_BYTES: one document's JSON
MAX_LOCAL_BYTES = 64 * 1024             # MAX_LOCAL_BYTES: one _local document
MAX_LOCAL_DOCS_READER = 100             # _local documents a read-only credential may create

BIG_BODY_DECLARED = DATA_BODY_LIMIT + 16 * 1024 * 1024   # 80 MiB announced, streamed
SEND_CHUNK = 256 * 1024
# A refusal that came before the client had sent this much was decided
# without reading the body up to the limit (the socket buffers of loopback
# hold up to ~36 MB between client and server).
EARLY_BYTES = DATA_BODY_LIMIT // 2

HOSTILE_TIMEOUT_S = 60.0      # one hostile request, at most
WORKER_READY_S = 30.0         # a hostile process builds its payloads within this
WORKER_GRACE_S = HOSTILE_TIMEOUT_S + 30.0   # after the phase, before it is killed
SETTLE_S = 1.0                # rest after a hostile phase before an idle one
WARMUP_S = 3.0                # victim probe before the first phase (discarded)
VICTIM_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Kind:
    name: str
    label: str
    status: int
    error: str
    hint: str                 # regex the reason must match: it says what to do
    target: str               # "a" (instance A, ALL), "reader" (A, GET only), "q" (instance Q)


KINDS = [
    Kind("bulk_docs_million", "_bulk_docs, 1,000,000 {} docs (4 MB)", 413, "max_bulk_docs_count_exceeded",
         r"smaller batches", "a"),
    Kind("bulk_docs_10001", "_bulk_docs, 10,001 docs", 413, "max_bulk_docs_count_exceeded", r"smaller batches", "a"),
    Kind("bulk_get_10001", "_bulk_get, 10,001 docs", 413, "max_bulk_get_count_exceeded", r"smaller batches", "a"),
    Kind("all_docs_keys_10001", "_all_docs POST, 10,001 keys", 413, "max_keys_count_exceeded", r"smaller batches", "a"),
    Kind("body_80mib", "body of 80 MiB (Content-Length), streamed", 413, "too_large", r"smaller .*batches", "a"),
    Kind("body_80mib_chunked", "body of 80 MiB (chunked), streamed", 413, "too_large", r"smaller .*batches", "a"),
    Kind("doc_9mb", "one document of 9 MB (limit 8 MiB)", 413, "document_too_large", r"attachment|file", "a"),
    Kind("local_70kb", "_local doc of 70 kB (limit 64 KiB)", 413, "document_too_large", r"small|regular documents", "a"),
    Kind("local_101st", "101st _local doc, read-only credential", 403, "forbidden", r"delete", "reader"),
    Kind("quota", "1 kB writes past a 64 KiB quota", 413, "quota_exceeded", r"delete|administrator", "q"),
]
# Not a refusal: the same clients sending a cheap valid request (GET of one
# document on A) as fast as it is answered. What any flood of three clients
# costs on this machine, against which the kinds above are read.
CONTROL = Kind("control_get", "control: valid GET on A, as fast", 200, "", "", "a")
KIND_BY_NAME = {k.name: k for k in (*KINDS, CONTROL)}


def doc_body(n: int) -> dict:
    return {"n": n, "s": f"s{n:07d}", "t": TAGS[n % len(TAGS)], "text": "lorem ipsum dolor sit amet"}


# --------------------------------------------------------------------------
# The hostile side: separate processes (this script with --hostile-worker),
# so that their Python work never holds the victim probe's interpreter.


def build_payloads(kinds: list[str]) -> dict[str, bytes]:
    p: dict[str, bytes] = {}
    if "bulk_docs_million" in kinds:
        p["bulk_docs_million"] = b'{"docs":[' + b", ".join([b"{}"] * 1_000_000) + b"]}"
    if "bulk_docs_10001" in kinds:
        p["bulk_docs_10001"] = json.dumps(
            {"docs": [dict(doc_body(i), _id=f"h{i:05d}") for i in range(MAX_BATCH + 1)]}).encode()
    if "bulk_get_10001" in kinds:
        p["bulk_get_10001"] = json.dumps({"docs": [{"id": f"h{i:05d}"} for i in range(MAX_BATCH + 1)]}).encode()
    if "all_docs_keys_10001" in kinds:
        p["all_docs_keys_10001"] = json.dumps({"keys": [f"h{i:05d}" for i in range(MAX_BATCH + 1)]}).encode()
    if "doc_9mb" in kinds:
        p["doc_9mb"] = json.dumps({"pad": "x" * 9_000_000}).encode()
    if "local_70kb" in kinds:
        p["local_70kb"] = json.dumps({"pad": "x" * 70_000}).encode()
    if "quota" in kinds:
        p["quota"] = json.dumps({"pad": "q" * 1000}).encode()
    return p


def streamed_body(port: int, host: str, token: str, chunked: bool, deadline: float) -> dict:
    """POSTs an 80 MiB `_bulk_docs` body on a fresh socket, sending while
    watching for an answer; returns the answer and how many bytes of the
    body had been sent when it began to arrive."""
    head = [f"POST /data/{HOSTILE}/_bulk_docs HTTP/1.1", f"Host: {host}", f"Authorization: Bearer {token}",
            "Content-Type: application/json"]
    head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {BIG_BODY_DECLARED}")
    chunk = b" " * SEND_CHUNK
    frame = f"{SEND_CHUNK:x}\r\n".encode() + chunk + b"\r\n" if chunked else chunk
    chunks_left = BIG_BODY_DECLARED // SEND_CHUNK
    body_sent = 0             # body bytes (chunk framing counted with its chunk)
    sent_at_answer = None
    sending = True
    buf = b""
    s = socket.create_connection(("127.0.0.1", port), timeout=HOSTILE_TIMEOUT_S)
    try:
        s.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        s.setblocking(False)
        pending = memoryview(b"")
        while True:
            if time.monotonic() > deadline:
                return {"status": 0, "body": b"", "sent_at_answer": sent_at_answer, "sent": body_sent,
                        "problem": f"no complete answer within {HOSTILE_TIMEOUT_S:.0f} s"}
            r, w, _ = select.select([s], [s] if sending else [], [], 0.5)
            if r:
                try:
                    data = s.recv(65536)
                except (ConnectionResetError, BrokenPipeError):
                    data = b""
                if sent_at_answer is None:
                    sent_at_answer = body_sent
                    sending = False   # an answer (or a close) came: the rest would not be read
                buf += data
                status, body, complete = parse_response(buf, eof=not data)
                if complete:
                    return {"status": status, "body": body, "sent_at_answer": sent_at_answer, "sent": body_sent,
                            "problem": None if status else "the connection closed without an answer"}
            if w and sending:
                if not pending:
                    if chunks_left > 0:
                        pending = memoryview(frame)
                        chunks_left -= 1
                    elif chunked:
                        pending = memoryview(b"0\r\n\r\n")
                        chunks_left = -1
                    else:
                        sending = False
                        continue
                try:
                    n = s.send(pending)
                except (BlockingIOError, InterruptedError):
                    continue
                except (BrokenPipeError, ConnectionResetError):
                    sending = False   # the server stopped reading: wait for its answer
                    continue
                pending = pending[n:]
                body_sent += n
                if not pending and chunks_left < 0:
                    sending = False
    finally:
        s.close()


def parse_response(buf: bytes, eof: bool) -> tuple[int, bytes, bool]:
    """(status, body, complete) of a raw HTTP/1.1 answer read so far."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return 0, b"", eof
    head = buf[:end].decode("latin-1").split("\r\n")
    try:
        status = int(head[0].split()[1])
    except (IndexError, ValueError):
        return 0, b"", True
    length = None
    for line in head[1:]:
        k, _, v = line.partition(":")
        if k.strip().lower() == "content-length":
            length = int(v.strip())
    body = buf[end + 4:]
    if length is not None:
        return status, body[:length], len(body) >= length or eof
    return status, body, eof


def hostile_worker() -> int:
    """`bounds.py --hostile-worker SPEC`: builds the payloads, prints
    `ready`, waits for `go END` on stdin, sends hostile requests until END
    (monotonic clock), then prints its results as one JSON line."""
    spec = json.loads(sys.argv[2])
    kinds: list[str] = spec["kinds"]
    payloads = build_payloads(kinds)
    targets = spec["targets"]    # target name -> [host, token]
    clients = {t: Client(spec["port"], h, tok, timeout=HOSTILE_TIMEOUT_S) for t, (h, tok) in targets.items()}
    results = {k: {"ms": [], "answers": Counter(), "bad": [], "reasons": Counter(), "sent_at_answer": [],
                   "sent": []} for k in kinds}
    print("ready", flush=True)
    line = sys.stdin.readline().split()
    if len(line) != 2 or line[0] != "go":
        return 1
    end = float(line[1])
    i, k = spec["index"], 0
    tag = f"{spec['index']}{secrets.token_hex(3)}"
    while time.monotonic() < end:
        name = kinds[(i + k) % len(kinds)]
        k += 1
        kind = KIND_BY_NAME[name]
        res = results[name]
        t0 = time.perf_counter()
        try:
            if name in ("body_80mib", "body_80mib_chunked"):
                host, token = targets["a"]
                out = streamed_body(spec["port"], host, token, name.endswith("chunked"),
                                    time.monotonic() + HOSTILE_TIMEOUT_S)
                status, body = out["status"], out["body"]
                res["sent"].append(out["sent"])
                if out["sent_at_answer"] is not None:
                    res["sent_at_answer"].append(out["sent_at_answer"])
                if out["problem"]:
                    raise OSError(out["problem"])
            else:
                c = clients[kind.target]
                if name == "bulk_docs_million" or name == "bulk_docs_10001":
                    r = c.request("POST", f"/data/{HOSTILE}/_bulk_docs", payloads[name])
                elif name == "bulk_get_10001":
                    r = c.request("POST", f"/data/{HOSTILE}/_bulk_get", payloads[name])
                elif name == "all_docs_keys_10001":
                    r = c.request("POST", f"/data/{HOSTILE}/_all_docs", payloads[name])
                elif name == "doc_9mb":
                    r = c.request("PUT", f"/data/{HOSTILE}/big-{tag}-{k}", payloads[name])
                elif name == "local_70kb":
                    r = c.request("PUT", f"/data/{HOSTILE}/_local/big-{tag}-{k}", payloads[name])
                elif name == "local_101st":
                    r = c.request("PUT", f"/data/{HOSTILE}/_local/more-{tag}-{k}", b'{"last_seq": 1}')
                elif name == "quota":
                    r = c.request("PUT", f"/data/{QUOTA}/over-{tag}-{k}", payloads[name])
                elif name == "control_get":
                    r = c.request("GET", f"/data/{HOSTILE}/seed")
                else:
                    raise ValueError(name)
                status, body = r.status, r.body
        except (OSError, http.client.HTTPException) as err:
            res["answers"]["no answer"] += 1
            if len(res["bad"]) < 3:
                res["bad"].append(f"{err!r}"[:300])
            time.sleep(0.05)
            continue
        ms = (time.perf_counter() - t0) * 1000.0
        res["ms"].append(ms)
        verdict, reason = judge_answer(kind, status, body)
        res["answers"][verdict] += 1
        res["reasons"][reason[:400]] += 1
        if not verdict.startswith("ok ") and len(res["bad"]) < 3:
            res["bad"].append(f"{status} {body[:300]!r}")
    for c in clients.values():
        c.close()
    results["_cpu_s"] = time.process_time()
    print(json.dumps(results), flush=True)
    return 0


def judge_answer(kind: Kind, status: int, body: bytes) -> tuple[str, str]:
    """("ok STATUS ERROR", reason) for the expected refusal, else what was wrong."""
    if kind is CONTROL:
        return ("ok 200", "") if status == 200 else (f"{status}", body[:200].decode(errors="replace"))
    try:
        j = json.loads(body)
    except ValueError:
        return f"{status}, not JSON", ""
    if not isinstance(j, dict) or not isinstance(j.get("error"), str) or not isinstance(j.get("reason"), str):
        return f"{status}, not {{error, reason}}", ""
    reason = j["reason"]
    if status != kind.status or j["error"] != kind.error:
        return f"{status} {j['error']}", reason
    if not re.search(kind.hint, reason):
        return f"{status} {j['error']}, reason without a hint", reason
    return f"ok {status} {j['error']}", reason


class Hostiles:
    """The hostile processes of one phase."""

    def __init__(self, script: Path, spec: dict, count: int, kinds: list[str], niceness: int) -> None:
        self.procs: list[subprocess.Popen] = []
        # On a provider's server the attackers' own CPU is on their
        # machines; here they share the server's cores, so they run at a
        # lower priority (`--hostile-nice`) than the server and the victim.
        prefix = ["nice", "-n", str(niceness)] if niceness else []
        for i in range(count):
            s = dict(spec, index=i, kinds=kinds)
            p = subprocess.Popen([*prefix, sys.executable, str(script), "--hostile-worker", json.dumps(s)],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            CLEANUP.procs.append(p)
            self.procs.append(p)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + WORKER_READY_S
        for p in self.procs:
            assert p.stdout
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BenchError(f"a hostile process was not ready within {WORKER_READY_S:.0f} s")
                r, _, _ = select.select([p.stdout], [], [], left)
                if r:
                    line = p.stdout.readline()
                    if line.strip() == "ready":
                        break
                    raise BenchError(f"a hostile process said {line!r} instead of ready (exit {p.poll()})")

    def go(self, end: float) -> None:
        for p in self.procs:
            assert p.stdin
            p.stdin.write(f"go {end}\n")
            p.stdin.flush()

    def collect(self, end: float) -> tuple[list[dict], float]:
        """The results of every process, and when the last one exited."""
        out = []
        for p in self.procs:
            try:
                stdout, _ = p.communicate(timeout=max(1.0, end + WORKER_GRACE_S - time.monotonic()))
            except subprocess.TimeoutExpired:
                stop_process(p)
                raise BenchError(f"a hostile process did not finish within {WORKER_GRACE_S:.0f} s of its phase")
            if p.returncode != 0:
                raise BenchError(f"a hostile process exited with code {p.returncode}")
            lines = [l for l in stdout.splitlines() if l.strip()]
            out.append(json.loads(lines[-1]))
        exited = time.monotonic()
        self.close()
        return out, exited

    def close(self) -> None:
        for p in self.procs:
            stop_process(p)
            if p in CLEANUP.procs:
                CLEANUP.procs.remove(p)


# --------------------------------------------------------------------------
# The victim: one keep-alive client on instance B, all along


class Victim:
    def __init__(self, port: int, token: str, ids: list[str], rate: float) -> None:
        self.client = Client(port, B_DOMAIN, token, timeout=VICTIM_TIMEOUT_S)
        self.ids = ids
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.samples: list[tuple[float, float, int, float]] = []   # (start, end, op 0=PUT 1=GET, ms)
        self.errors: list[tuple[float, str]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        rng = random.Random(7)
        tag = secrets.token_hex(3)
        i = 0
        next_at = time.monotonic()
        try:
            while not self.stop.is_set():
                op = i % 2
                t0 = time.monotonic()
                try:
                    if op == 0:
                        r = self.client.request("PUT", f"/data/{VICTIM}/v{tag}-{i:07d}", doc_body(i))
                        ok = r.status == 201
                    else:
                        r = self.client.request("GET", f"/data/{VICTIM}/{rng.choice(self.ids)}")
                        ok = r.status == 200
                    t1 = time.monotonic()
                    if ok:
                        self.samples.append((t0, t1, op, r.seconds * 1000.0))
                    else:
                        self.errors.append((t1, f"{('PUT', 'GET')[op]} {r.status} {r.body[:200]!r}"))
                except (OSError, http.client.HTTPException) as err:
                    self.errors.append((time.monotonic(), f"{('PUT', 'GET')[op]} {err!r}"))
                    time.sleep(0.05)
                i += 1
                if self.interval:
                    next_at += self.interval
                    pause = next_at - time.monotonic()
                    if pause > 0:
                        self.stop.wait(pause)
                    else:
                        next_at = time.monotonic()
        finally:
            self.client.close()

    def window(self, a: float, b: float) -> tuple[list[float], list[float], int]:
        """PUT and GET latencies (ms) of the requests made wholly inside
        [a, b], and the errors in it."""
        put = [ms for s, e, op, ms in self.samples if s >= a and e <= b and op == 0]
        get = [ms for s, e, op, ms in self.samples if s >= a and e <= b and op == 1]
        return put, get, sum(1 for t, _ in self.errors if a <= t <= b)


def lat_stats(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    return {"n": len(values), "p50_ms": round(statistics.median(values), 3),
            "p99_ms": round(percentile(values, 99), 3), "max_ms": round(max(values), 2)}


# --------------------------------------------------------------------------
# One engine


@dataclass
class Setup:
    srv: Server
    spec: dict
    victim_ids: list[str]
    victim_token: str
    notes: dict = field(default_factory=dict)


def token(srv: Server, domain: str, scope: str) -> str:
    t = nuage_cli(srv.binary, ["token", domain, "--scope", scope, "--ttl", str(TOKEN_TTL_S),
                               *store_args(srv.data, srv.db_url)])
    if not t:
        raise BenchError(f"`nuage token {domain}` printed nothing")
    return t


def set_up(engine: Engine, binary: Path, opts: argparse.Namespace) -> Setup:
    e = engine.name
    data, db_url = engine.new_store("bounds")
    srv = Server(binary, data, db_url, admin_secret="nas_bench_" + secrets.token_hex(16))
    srv.start()
    srv.wait_ready()
    admin = Client(srv.admin_port, "127.0.0.1", srv.admin_secret)
    try:
        create_instance(srv.admin_port, srv.admin_secret or "", A_DOMAIN, admin)
        create_instance(srv.admin_port, srv.admin_secret or "", B_DOMAIN, admin)
        expect(admin.request("POST", "/instances", {"domain": Q_DOMAIN, "quota_bytes": opts.quota_bytes}),
               (201,), f"POST /instances {Q_DOMAIN} with a quota")
    finally:
        admin.close()
    a_tok = token(srv, A_DOMAIN, f"{HOSTILE}:ALL")
    reader_tok = token(srv, A_DOMAIN, f"{HOSTILE}:GET")
    b_tok = token(srv, B_DOMAIN, f"{VICTIM}:ALL")
    q_tok = token(srv, Q_DOMAIN, f"{QUOTA}:ALL")
    notes: dict = {}

    # B: the victim's documents and a Mango index.
    c = Client(srv.port, B_DOMAIN, b_tok, timeout=60.0)
    try:
        expect(c.request("POST", f"/data/{VICTIM}/_index", {"index": {"fields": ["n"]}}), (200, 201), "_index on B")
        ids = [f"doc{j:05d}" for j in range(opts.victim_docs)]
        r = expect(c.request("POST", f"/data/{VICTIM}/_bulk_docs",
                             {"docs": [dict(doc_body(j), _id=ids[j]) for j in range(len(ids))]}),
                   (201,), "_bulk_docs on B")
        if any(not x.get("ok") for x in r.json()):
            raise BenchError("B's _bulk_docs refused documents")
    finally:
        c.close()

    # A: one document (the doctype exists), and the read-only credential's
    # 100 _local documents, so that its next one is refused.
    c = Client(srv.port, A_DOMAIN, a_tok, timeout=60.0)
    try:
        expect(c.request("PUT", f"/data/{HOSTILE}/seed", {"n": 1}), (201,), "PUT on A")
        c.token = reader_tok
        for j in range(MAX_LOCAL_DOCS_READER):
            expect(c.request("PUT", f"/data/{HOSTILE}/_local/peer-{j:03d}", {"last_seq": j}), (201,),
                   f"_local {j} with the read-only credential")
        r = c.request("PUT", f"/data/{HOSTILE}/_local/peer-extra", {"last_seq": 0})
        if r.status == 201:
            raise BenchError(f"the read-only credential could create a _local document past {MAX_LOCAL_DOCS_READER}")
    finally:
        c.close()

    # Q: filled to its quota with 1 kB documents.
    c = Client(srv.port, Q_DOMAIN, q_tok, timeout=60.0)
    try:
        written = 0
        for j in range(opts.quota_bytes // 500 + 10):
            r = c.request("PUT", f"/data/{QUOTA}/fill-{j:05d}", {"pad": "q" * 1000})
            if r.status == 201:
                written += 1
                continue
            if r.status == 413:
                break
            raise BenchError(f"filling Q: {r.status} {r.body[:200]!r}")
        else:
            raise BenchError(f"Q took {written} documents of 1 kB without reaching its quota of {opts.quota_bytes} bytes")
        notes["quota_docs_before_full"] = written
    finally:
        c.close()
    log(f"{e}: A, B ({opts.victim_docs} docs, index on n) and Q (quota {opts.quota_bytes:,} bytes, full after "
        f"{written} docs) ready")
    spec = {"port": srv.port, "targets": {"a": [A_DOMAIN, a_tok], "reader": [A_DOMAIN, reader_tok],
                                          "q": [Q_DOMAIN, q_tok]}}
    return Setup(srv, spec, ids, b_tok, notes)


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds used so far by the server's threads, by thread name
    (tokio-rt-worker, sqlx-sqlite-wor…)."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for t in tasks:
        try:
            with open(f"/proc/{pid}/task/{t}/stat") as f:
                raw = f.read()
        except OSError:
            continue
        name = raw[raw.index("(") + 1:raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2:].split()
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return out


def cpu_per_s(before: dict[str, float], after: dict[str, float], seconds: float) -> dict[str, float]:
    return {k: round((after.get(k, 0.0) - before.get(k, 0.0)) / seconds, 2)
            for k in sorted(after) if after.get(k, 0.0) - before.get(k, 0.0) > 0}


def cpu_text(c: dict[str, float]) -> str:
    short = {"tokio-rt-worker": "tokio", "sqlx-sqlite-wor": "sqlite", "nuage-bounds-bi": "main"}
    return ", ".join(f"{short.get(k, k)} {v:.2f}" for k, v in sorted(c.items(), key=lambda x: -x[1]))


def merge(into: dict, results: list[dict]) -> None:
    for res in results:
        for name, r in res.items():
            if name.startswith("_"):
                continue
            m = into.setdefault(name, {"ms": [], "answers": Counter(), "bad": [], "reasons": Counter(),
                                       "sent_at_answer": [], "sent": []})
            m["ms"] += r["ms"]
            m["answers"].update(r["answers"])
            m["reasons"].update(r["reasons"])
            m["sent_at_answer"] += r["sent_at_answer"]
            m["sent"] += r["sent"]
            m["bad"] += r["bad"][: max(0, 3 - len(m["bad"]))]


def bench_engine(engine: Engine, binary: Path, opts: argparse.Namespace) -> list[Row]:
    rows: list[Row] = []
    e = engine.name

    def run() -> None:
        load0 = os.getloadavg()[0]
        st = set_up(engine, binary, opts)
        try:
            measure(engine, st, opts, rows)
        finally:
            st.srv.stop()
        # On 2 cores the other work of the machine shows in every ratio.
        rows.append(Row("load average (1 min), start → end", e, os.getloadavg()[0], "", "(info)", "INFO",
                        digits=2, note=f"{load0:.2f} at the start of this engine"))

    attempt(rows, e, "bounds", run)
    return rows


def measure(engine: Engine, st: Setup, opts: argparse.Namespace, rows: list[Row]) -> None:
    e, srv = engine.name, st.srv
    script = Path(__file__).resolve()
    kinds = opts.kinds
    rss: dict[str, float] = {"after set-up": srv.rss_mb()[0]}
    victim = Victim(srv.port, st.victim_token, st.victim_ids, opts.victim_rate)
    victim.thread.start()
    refusals: dict = {}
    rounds: list[dict] = []

    cpu: dict[tuple[float, float], dict[str, float]] = {}   # server CPU s/s of each phase

    def idle_phase(seconds: float) -> tuple[float, float]:
        c0, a = thread_cpu(srv.pid), time.monotonic()
        time.sleep(seconds)
        srv.check_alive()
        b = time.monotonic()
        cpu[(a, b)] = cpu_per_s(c0, thread_cpu(srv.pid), b - a)
        return a, b

    def hostile_phase(seconds: float, phase_kinds: list[str]) -> tuple[float, float, list[dict]]:
        h = Hostiles(script, st.spec, opts.hostile_clients, phase_kinds, opts.hostile_nice)
        try:
            h.wait_ready()
            c0, a = thread_cpu(srv.pid), time.monotonic()
            h.go(a + seconds)
            results, b = h.collect(a + seconds)
            cpu[(a, b)] = cpu_per_s(c0, thread_cpu(srv.pid), b - a)
            cpu[(a, b)]["hostile clients"] = round(sum(r.get("_cpu_s", 0.0) for r in results) / (b - a), 2)
        finally:
            h.close()
        srv.check_alive()
        time.sleep(SETTLE_S)
        return a, b, results

    try:
        time.sleep(WARMUP_S)
        log(f"{e}: {opts.rounds} rounds of {opts.phase_seconds:g} s idle + {opts.phase_seconds:g} s hostile "
            f"({opts.hostile_clients} hostile processes, every kind in turn); victim at "
            + (f"{opts.victim_rate:g} req/s" if opts.victim_rate else "full speed"))
        idle_w, hostile_w = [], []
        for rnd in range(opts.rounds):
            ia, ib = idle_phase(opts.phase_seconds)
            ha, hb, results = hostile_phase(opts.phase_seconds, kinds)
            merge(refusals, results)
            idle_w.append((ia, ib))
            hostile_w.append((ha, hb))
            ip, ig, ie = victim.window(ia, ib)
            hp, hg, he = victim.window(ha, hb)
            sent = sum(len(r["ms"]) + r["answers"].get("no answer", 0) for res in results
                       for n, r in res.items() if not n.startswith("_"))
            rounds.append({"idle": {"put": lat_stats(ip), "get": lat_stats(ig), "errors": ie,
                                    "server_cpu_per_s": cpu[(ia, ib)]},
                           "hostile": {"put": lat_stats(hp), "get": lat_stats(hg), "errors": he,
                                       "seconds": round(hb - ha, 2), "hostile_requests": sent,
                                       "cpu_per_s": cpu[(ha, hb)]}})
            log(f"{e}: round {rnd + 1}: victim PUT p50/p99 idle {fmt(ip)} | hostile {fmt(hp)}; "
                f"GET idle {fmt(ig)} | hostile {fmt(hg)}; {sent} hostile requests in {hb - ha:.1f} s; "
                f"CPU s/s idle [{cpu_text(cpu[(ia, ib)])}] hostile [{cpu_text(cpu[(ha, hb)])}]")

        rss["after the rounds"] = srv.rss_mb()[0]
        per_kind: dict[str, dict] = {}
        if opts.kind_seconds > 0:
            log(f"{e}: each kind alone, {opts.kind_seconds:g} s between idle phases of {opts.kind_seconds:g} s")
            prev = idle_phase(opts.kind_seconds)
            for name in [*kinds, CONTROL.name]:
                ha, hb, results = hostile_phase(opts.kind_seconds, [name])
                merge(refusals, results)
                nxt = idle_phase(opts.kind_seconds)
                per_kind[name] = {"idle": [prev, nxt], "hostile": (ha, hb), "results": results,
                                  "cpu": cpu[(ha, hb)], "idle_cpu": cpu[prev]}
                log(f"{e}: {name}: CPU s/s [{cpu_text(cpu[(ha, hb)])}]")
                prev = nxt
    finally:
        victim.stop.set()
        victim.thread.join(timeout=VICTIM_TIMEOUT_S + 5)

    # -- the report --
    def pooled(windows):
        put, get, errs = [], [], 0
        for a, b in windows:
            p, g, er = victim.window(a, b)
            put += p
            get += g
            errs += er
        return put, get, errs

    ip, ig, _ = pooled(idle_w)
    hp, hg, _ = pooled(hostile_w)
    idle_s = sum(b - a for a, b in idle_w)
    hostile_s = sum(b - a for a, b in hostile_w)
    for op, idle, hostile in (("PUT", ip, hp), ("GET", ig, hg)):
        if not idle or not hostile:
            rows.append(Row(f"victim {op}", e, None, "", "", "ERROR", note="no victim samples in a phase"))
            continue
        for label, pct in (("p50", 50), ("p99", 99)):
            a, b = percentile(idle, pct), percentile(hostile, pct)
            rows.append(judged(f"victim {op} {label}, hostile / idle", e, b / a, "×", TARGET_RATIO, digits=2,
                               note=f"{a:.2f} ms idle ({len(idle):,} requests, {len(idle) / idle_s:,.0f}/s), "
                                    f"{b:.2f} ms hostile ({len(hostile):,}, {len(hostile) / hostile_s:,.0f}/s); "
                                    f"{opts.rounds} rounds of {opts.phase_seconds:g} s each",
                               details={"rounds": rounds} if op == "PUT" and label == "p50" else {}))
    total_victim = len(victim.samples) + len(victim.errors)
    err_row = judged("victim errors", e, float(len(victim.errors)), "errors", TARGET_VICTIM_ERRORS,
                     note=f"of {total_victim:,} requests over the whole run"
                          + (f"; e.g. {victim.errors[0][1]}" if victim.errors else ""),
                     details={"examples": [x[1] for x in victim.errors[:10]]})
    err_row.target = "0"
    rows.append(err_row)

    for name in kinds:
        kind = KIND_BY_NAME[name]
        r = refusals.get(name)
        target = f"<= {TARGET_REFUSAL_MS / 1000:g} s, {kind.status} {kind.error}"
        if not r or not r["ms"] and not r["answers"]:
            rows.append(Row(f"refusal: {kind.label}", e, None, "", target, "ERROR", note="never sent"))
            continue
        answers = r["answers"]
        wrong = {k: v for k, v in answers.items() if not k.startswith("ok ")}
        n = sum(answers.values())
        slowest = max(r["ms"]) if r["ms"] else None
        p50 = statistics.median(r["ms"]) if r["ms"] else None
        ok = not wrong and slowest is not None and slowest <= TARGET_REFUSAL_MS
        reason = r["reasons"].most_common(1)[0][0] if r["reasons"] else ""
        note = f"{n:,} sent; p50 {p50:.1f} ms" if p50 is not None else f"{n:,} sent"
        if wrong:
            note += "; WRONG: " + ", ".join(f"{k} ×{v}" for k, v in wrong.items())
            if r["bad"]:
                note += f" (e.g. {r['bad'][0][:160]})"
        else:
            note += f"; all {kind.status} {kind.error}"
        if r["sent_at_answer"]:
            got = r["sent_at_answer"]
            early = sum(1 for x in got if x < EARLY_BYTES)
            note += (f"; body sent before the answer: {min(got) / 2**20:.1f}–{max(got) / 2**20:.1f} MiB of "
                     f"{BIG_BODY_DECLARED / 2**20:.0f} MiB ({'refused early' if early == len(got) else 'READ UP TO THE LIMIT' if early == 0 else f'{early} of {len(got)} early'})")
        note += f"; reason: \"{reason[:150]}\""
        rows.append(Row(f"refusal: {kind.label}", e, slowest, "ms", target, "PASS" if ok else "FAIL", digits=1,
                        note=note, details={"p50_ms": p50, "max_ms": slowest, "count": n, "answers": dict(answers),
                                            "reasons": dict(r["reasons"]), "examples": r["bad"],
                                            "sent_at_answer": r["sent_at_answer"]}))

    for name, pk in per_kind.items():
        kind = KIND_BY_NAME[name]
        idle = [victim.window(a, b) for a, b in pk["idle"]]
        hp, hg, he = victim.window(*pk["hostile"])
        idle_s = sum(b - a for a, b in pk["idle"])
        ip = [x for p, _, _ in idle for x in p]
        ig = [x for _, g, _ in idle for x in g]
        if not (ip and ig and hp and hg):
            rows.append(Row(f"victim during {name} only", e, None, "", "", "ERROR", note="no victim samples"))
            continue
        ratios = {f"{op} {lab}": percentile(h, pct) / percentile(i, pct)
                  for op, i, h in (("PUT", ip, hp), ("GET", ig, hg)) for lab, pct in (("p50", 50), ("p99", 99))}
        worst = max(ratios, key=ratios.get)
        sent = sum(len(r.get(name, {}).get("ms", [])) for r in pk["results"])
        secs = pk["hostile"][1] - pk["hostile"][0]
        server_cpu = sum(v for k, v in pk["cpu"].items() if k != "hostile clients")
        idle_cpu = sum(v for k, v in pk["idle_cpu"].items() if k != "hostile clients")
        # Server CPU the hostile requests cost, each (less what the victim costs: the idle phase's).
        cpu_each = (server_cpu - idle_cpu) * secs / sent * 1000 if sent else None
        row = judged(f"victim, worst ratio during: {kind.label}", e, ratios[worst], "×", TARGET_RATIO,
                           digits=2,
                           note=f"worst {worst}; victim {(len(ip) + len(ig)) / idle_s:,.0f} req/s idle, "
                                f"{(len(hp) + len(hg)) / secs:,.0f} req/s in this phase; PUT p50 {percentile(ip, 50):.2f}→{percentile(hp, 50):.2f} ms, "
                                f"p99 {percentile(ip, 99):.2f}→{percentile(hp, 99):.2f}; GET p50 "
                                f"{percentile(ig, 50):.2f}→{percentile(hg, 50):.2f}, p99 {percentile(ig, 99):.2f}→"
                                f"{percentile(hg, 99):.2f}; {sent / secs:,.1f} hostile req/s"
                                + (f", {cpu_each:.2f} ms of server CPU each" if cpu_each is not None else "")
                                + f"; CPU s/s [{cpu_text(pk['cpu'])}]"
                                + (f"; {he} victim errors" if he else ""),
                           details={"ratios": ratios, "idle_put": lat_stats(ip), "hostile_put": lat_stats(hp),
                                    "idle_get": lat_stats(ig), "hostile_get": lat_stats(hg),
                                    "hostile_requests": sent, "seconds": secs,
                                    "server_cpu_ms_per_hostile_request": cpu_each,
                                    "cpu_per_s": pk["cpu"], "idle_cpu_per_s": pk["idle_cpu"]})
        if kind is CONTROL:
            row.status, row.target = "INFO", "(reference)"
        rows.append(row)

    rss["at the end"], peak = srv.rss_mb()
    rows.append(Row("server RSS, peak of the run", e, peak, "MB", "(info)", "INFO",
                    note="; ".join(f"{k} {v:.0f} MB" for k, v in rss.items()), details=rss))
    warnings, first = srv.log_problems()
    if warnings:
        rows.append(Row("WARN/ERROR lines in the server log", e, float(warnings), "lines", "(info)", "INFO",
                        digits=0, note=first[0][:200] if first else "", details={"examples": first}))


def fmt(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{percentile(values, 50):.2f}/{percentile(values, 99):.2f} ms"


# --------------------------------------------------------------------------


def parse_kinds(text: str) -> list[str]:
    names = [x.strip() for x in text.split(",") if x.strip()]
    bad = [x for x in names if x not in KIND_BY_NAME]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"unknown kind(s) {bad}; known: {', '.join(KIND_BY_NAME)}")
    return names


def main() -> int:
    if len(sys.argv) >= 3 and sys.argv[1] == "--hostile-worker":
        try:
            return hostile_worker()
        except KeyboardInterrupt:
            return 130
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_args(ap, "bounds.py")
    ap.add_argument("--rounds", type=int, default=4, help="idle + hostile rounds (default 4)")
    ap.add_argument("--phase-seconds", type=float, default=15.0, help="length of each phase of a round (default 15)")
    ap.add_argument("--kind-seconds", type=float, default=8.0,
                    help="each kind alone for this long, between idle phases as long; 0 skips (default 8)")
    ap.add_argument("--hostile-clients", type=int, default=3, help="concurrent hostile processes (default 3)")
    ap.add_argument("--hostile-nice", type=int, default=19,
                    help="niceness of the hostile (and control) processes: their CPU is not the server's (default 19; 0: as the victim)")
    ap.add_argument("--victim-rate", type=float, default=200.0,
                    help="victim requests/s, PUTs and GETs alternately; 0: as fast as answered (default 200)")
    ap.add_argument("--victim-docs", type=int, default=300, help="documents of the victim's doctype (default 300)")
    ap.add_argument("--quota-bytes", type=int, default=65_536, help="quota of instance Q (default 65536)")
    ap.add_argument("--kinds", type=parse_kinds, default=[k.name for k in KINDS], metavar="K,…",
                    help="hostile kinds to send (default all: " + ", ".join(KIND_BY_NAME) + ")")
    opts = ap.parse_args()
    sys.stdout.reconfigure(line_buffering=True)
    if opts.rounds < 1 or opts.phase_seconds <= 0 or opts.kind_seconds < 0:
        ap.error("--rounds must be >= 1, --phase-seconds > 0, --kind-seconds >= 0")
    if not 1 <= opts.hostile_clients <= 16 or opts.victim_docs < 1 or opts.quota_bytes < 4096:
        ap.error("--hostile-clients in 1..16, --victim-docs >= 1, --quota-bytes >= 4096")

    return run_main(
        opts, "nuage bounds benchmark",
        f"{opts.rounds} rounds x ({opts.phase_seconds:g} s idle + {opts.phase_seconds:g} s hostile), "
        f"{opts.hostile_clients} hostile clients; each kind alone {opts.kind_seconds:g} s; victim "
        + (f"{opts.victim_rate:g} req/s" if opts.victim_rate else "unpaced"),
        "the victim's latencies, p99 above all, will suffer from the other work; rerun on a quiet machine",
        bench_engine,
        {"targets": {"ratio": TARGET_RATIO, "refusal_ms": TARGET_REFUSAL_MS, "victim_errors": TARGET_VICTIM_ERRORS},
         "kinds": {k.name: {"label": k.label, "status": k.status, "error": k.error, "hint": k.hint}
                   for k in KINDS}})


if __name__ == "__main__":
    sys.exit(main())
