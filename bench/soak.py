#!/usr/bin/env python3
"""Soak: a server under a steady mixed load for a long time.

For each engine (SQLite and, unless --no-postgres, PostgreSQL): one fresh
server with a few instances, then --clients keep-alive clients for
--minutes (default 30): single-document creations, updates and reads,
`_all_docs` pages, `_find` with an index, `_bulk_docs` of 100, and longpoll
`_changes` followers that must keep up with the writes. The issue's
targets: 0 errors; resident memory after the first --warmup-minutes
(default 5) within ±10 % of what it was then; the SQLite WAL bounded by
checkpoints (it stops growing).

Standard library only. Builds nothing: run `cargo build --release -p nuage`
first. Every process, temporary folder and database it creates is removed
at the end, also on failure or Ctrl-C; every loop is bounded in time.

    python3 bench/soak.py [--binary PATH] [--minutes 30] [--no-postgres] [--json FILE]
"""

from __future__ import annotations

import argparse
import http.client
import random
import secrets
import statistics
import sys
import threading
import time
import urllib.parse
from array import array
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from benchlib import (BenchError, Client, Engine, Row, Server, add_common_args, attempt, create_instance,
                      dir_size, expect, fd_count, judged, log, nuage_cli, percentile, run_main, store_args,
                      store_size, thread_count)

# The targets.
TARGET_ERRORS = 0
TARGET_RSS_BAND_PCT = 10.0
# "WAL bounded by checkpoints": after the warm-up, the WAL's largest size in
# the second half of the run may exceed its largest in the first half by
# at most this factor plus WAL_SLACK_MB. A WAL that checkpoints keep
# resetting stays at its high-water mark; a starved one keeps growing.
WAL_GROWTH_FACTOR = 1.25
WAL_SLACK_MB = 4.0

DOCTYPE = "io.bench.soak"
SCOPE = f"{DOCTYPE}:ALL"
INDEXES = (["n"], ["t", "n"])
TAGS = ("red", "green", "blue", "amber")
N_SPACE = 1_000_000               # values of `n`
SEED_DOCS = 1000                  # documents per instance before the load
FIND_WIDTH = 2000                 # width of the `_find` range of n
LONGPOLL_MS = 5000
REQUEST_TIMEOUT_S = 30.0
CATCH_UP_S = 30.0                 # followers must reach the last write by then
# The mix of a mixed client, by weight. `_bulk_docs` (100 new documents
# each) is rare so that the store grows slowly: the soak is about a steady
# load, not about a large store (at 1,000 requests/s it still adds about 2
# million documents in 30 minutes).
MIX = {"get": 30, "put_new": 20, "update": 18, "find": 14, "all_docs": 15, "bulk_docs": 1}


def doc_body(n: int) -> dict:
    return {"n": n, "s": f"s{n:07d}", "t": TAGS[n % len(TAGS)], "text": "lorem ipsum dolor sit amet"}


@dataclass
class Inst:
    domain: str
    token: str
    lock: threading.Lock = field(default_factory=threading.Lock)
    ids: list[str] = field(default_factory=list)
    revs: dict[str, str] = field(default_factory=dict)

    def remember(self, doc_id: str, rev: str) -> None:
        with self.lock:
            if doc_id not in self.revs:
                self.ids.append(doc_id)
            self.revs[doc_id] = rev

    def pick(self, rng: random.Random) -> tuple[str, str]:
        with self.lock:
            doc_id = self.ids[rng.randrange(len(self.ids))]
            return doc_id, self.revs[doc_id]


class Stats:
    """Counts, latencies and errors, shared by every client thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: Counter = Counter()
        self.lat: dict[str, array] = {}
        self.errors: Counter = Counter()
        self.conflicts = 0
        self.examples: list[str] = []
        self.t0 = time.monotonic()

    def ok(self, op: str, seconds: float) -> None:
        with self.lock:
            self.counts[op] += 1
            self.lat.setdefault(op, array("d")).append(seconds * 1000.0)

    def error(self, op: str, what: str) -> None:
        with self.lock:
            self.counts[op] += 1
            self.errors[op] += 1
            if len(self.examples) < 10:
                self.examples.append(f"t+{time.monotonic() - self.t0:.0f}s {op}: {what[:300]}")

    def total(self) -> tuple[int, int]:
        with self.lock:
            return sum(self.counts.values()), sum(self.errors.values())


class Load:
    """The clients of one soak: mixed workers and `_changes` followers."""

    def __init__(self, srv: Server, insts: list[Inst], opts: argparse.Namespace) -> None:
        self.srv, self.insts, self.opts = srv, insts, opts
        self.stats = Stats()
        self.stop_workers = threading.Event()
        self.stop_followers = threading.Event()
        self.follower_seq: dict[int, int] = {}
        self.threads: list[threading.Thread] = []

    # -- mixed clients --

    def worker(self, wid: int, end: float) -> None:
        rng = random.Random(wid)
        ops, weights = list(self.opts.mix), list(self.opts.mix.values())
        c = Client(self.srv.port, "", None, timeout=REQUEST_TIMEOUT_S)
        workers = self.opts.clients - self.opts.followers
        interval = workers / self.opts.max_rate if self.opts.max_rate > 0 else 0.0
        next_at, k = time.monotonic(), 0
        try:
            while not self.stop_workers.is_set() and time.monotonic() < end:
                op = rng.choices(ops, weights)[0]
                inst = self.insts[rng.randrange(len(self.insts))]
                c.host, c.token = inst.domain, inst.token
                k += 1
                try:
                    self.one(c, rng, op, inst, f"c{wid:02d}-{k:08d}")
                except (OSError, http.client.HTTPException, ValueError) as err:
                    self.stats.error(op, f"{inst.domain}: {err!r}")
                if interval:
                    next_at += interval
                    pause = next_at - time.monotonic()
                    if pause > 0:
                        time.sleep(pause)
                    else:
                        next_at = time.monotonic()
        finally:
            c.close()

    def one(self, c: Client, rng: random.Random, op: str, inst: Inst, new_id: str) -> None:
        st = self.stats
        base = f"/data/{DOCTYPE}"

        def bad(r) -> None:
            st.error(op, f"{inst.domain}: {r.status} {r.body[:200]!r}")

        if op == "put_new":
            r = c.request("PUT", f"{base}/{new_id}", doc_body(rng.randrange(N_SPACE)))
            if r.status != 201:
                return bad(r)
            inst.remember(new_id, r.json()["rev"])
        elif op == "update":
            doc_id, rev = inst.pick(rng)
            r = c.request("PUT", f"{base}/{doc_id}", dict(doc_body(rng.randrange(N_SPACE)), _rev=rev))
            if r.status == 409:
                # Another client updated it first: expected, not an error.
                with st.lock:
                    st.conflicts += 1
                g = c.request("GET", f"{base}/{doc_id}")
                if g.status != 200:
                    return st.error("get", f"{inst.domain}: {doc_id} after a conflict: {g.status} {g.body[:200]!r}")
                st.ok("get", g.seconds)
                inst.remember(doc_id, g.json()["_rev"])
            elif r.status != 201:
                return bad(r)
            else:
                inst.remember(doc_id, r.json()["rev"])
        elif op == "get":
            doc_id, _ = inst.pick(rng)
            r = c.request("GET", f"{base}/{doc_id}")
            if r.status != 200:
                return bad(r)
        elif op == "all_docs":
            doc_id, _ = inst.pick(rng)
            key = urllib.parse.quote(f'"{doc_id}"')
            r = c.request("GET", f"{base}/_all_docs?limit=50&startkey={key}")
            if r.status != 200 or not isinstance(r.json().get("rows"), list):
                return bad(r)
        elif op == "find":
            lo = rng.randrange(N_SPACE - FIND_WIDTH)
            r = c.request("POST", f"{base}/_find", {"selector": {"n": {"$gte": lo, "$lt": lo + FIND_WIDTH}},
                                                    "sort": [{"n": "asc"}], "limit": 20})
            if r.status != 200:
                return bad(r)
            ns = [d["n"] for d in r.json()["docs"]]
            if ns != sorted(ns) or not all(lo <= v < lo + FIND_WIDTH for v in ns):
                return st.error(op, f"{inst.domain}: wrong answer for n in [{lo}, {lo + FIND_WIDTH}): {ns[:5]}")
        elif op == "bulk_docs":
            docs = [dict(doc_body(rng.randrange(N_SPACE)), _id=f"{new_id}-{j:03d}") for j in range(100)]
            r = c.request("POST", f"{base}/_bulk_docs", {"docs": docs})
            if r.status != 201:
                return bad(r)
            res = r.json()
            refused = [x for x in res if not x.get("ok")]
            if refused:
                return st.error(op, f"{inst.domain}: {len(refused)} of 100 refused, e.g. {refused[0]}")
            for x in res:
                inst.remember(x["id"], x["rev"])
        st.ok(op, r.seconds)

    # -- `_changes` followers --

    def follower(self, fid: int, inst: Inst, since: int) -> None:
        c = Client(self.srv.port, inst.domain, inst.token, timeout=REQUEST_TIMEOUT_S)
        self.follower_seq[fid] = since
        try:
            while not self.stop_followers.is_set():
                path = f"/data/{DOCTYPE}/_changes?feed=longpoll&since={since}&timeout={LONGPOLL_MS}&limit=1000"
                try:
                    r = c.request("GET", path)
                except (OSError, http.client.HTTPException) as err:
                    self.stats.error("changes", f"{inst.domain}: {err!r}")
                    time.sleep(0.5)
                    continue
                if r.status != 200:
                    self.stats.error("changes", f"{inst.domain}: {r.status} {r.body[:200]!r}")
                    time.sleep(0.5)
                    continue
                j = r.json()
                seqs = [row["seq"] for row in j.get("results", [])]
                if any(not isinstance(s, int) for s in seqs) or seqs != sorted(set(seqs)) \
                        or (seqs and seqs[0] <= since):
                    self.stats.error("changes", f"{inst.domain}: since={since}, seqs not increasing: {seqs[:5]}")
                last = j.get("last_seq")
                if not isinstance(last, int) or last < since:
                    self.stats.error("changes", f"{inst.domain}: last_seq {last!r} after since={since}")
                    time.sleep(0.5)
                    continue
                since = last
                self.follower_seq[fid] = since
                self.stats.ok("changes", r.seconds)
        finally:
            c.close()


def update_seq(c: Client, inst: Inst) -> int:
    c.host, c.token = inst.domain, inst.token
    r = expect(c.request("GET", f"/data/{DOCTYPE}/"), (200,), f"GET /data/{DOCTYPE}/ on {inst.domain}")
    seq = r.json()["update_seq"]
    if not isinstance(seq, int):
        raise BenchError(f"update_seq is {seq!r}, not a number: this script compares sequences as numbers")
    return seq


def setup_instances(srv: Server, count: int) -> list[Inst]:
    insts = []
    c = Client(srv.port, "", None, timeout=REQUEST_TIMEOUT_S)
    try:
        for i in range(count):
            domain = f"s{i}.localhost"
            create_instance(srv.admin_port, srv.admin_secret or "", domain)
            token = nuage_cli(srv.binary, ["token", domain, "--scope", SCOPE, "--ttl", "172800",
                                           *store_args(srv.data, srv.db_url)])
            inst = Inst(domain, token)
            c.host, c.token = domain, token
            for fields in INDEXES:
                expect(c.request("POST", f"/data/{DOCTYPE}/_index", {"index": {"fields": fields}}),
                       (200, 201), f"_index on {domain}")
            rng = random.Random(i)
            for start in range(0, SEED_DOCS, 500):
                docs = [dict(doc_body(rng.randrange(N_SPACE)), _id=f"seed-{j:05d}")
                        for j in range(start, min(SEED_DOCS, start + 500))]
                r = expect(c.request("POST", f"/data/{DOCTYPE}/_bulk_docs", {"docs": docs}), (201,), "_bulk_docs")
                for x in r.json():
                    if not x.get("ok"):
                        raise BenchError(f"seeding {domain}: {x}")
                    inst.remember(x["id"], x["rev"])
            insts.append(inst)
    finally:
        c.close()
    return insts


def soak_engine(engine: Engine, binary: Path, opts: argparse.Namespace) -> list[Row]:
    rows: list[Row] = []
    e = engine.name

    def run() -> None:
        data, db_url = engine.new_store("soak")
        srv = Server(binary, data, db_url, admin_secret="nas_bench_" + secrets.token_hex(16))
        srv.start()
        srv.wait_ready()
        insts = setup_instances(srv, opts.instances)
        soak(engine, srv, insts, opts, rows)
        srv.check_alive()
        srv.stop()

    attempt(rows, e, "soak", run)
    return rows


def soak(engine: Engine, srv: Server, insts: list[Inst], opts: argparse.Namespace, rows: list[Row]) -> None:
    e = engine.name
    load = Load(srv, insts, opts)
    probe = Client(srv.port, "", None, timeout=REQUEST_TIMEOUT_S)
    duration, warmup = opts.minutes * 60.0, opts.warmup_minutes * 60.0
    sqlite = engine.name == "sqlite"
    samples: list[dict] = []
    max_lag = 0

    def sample(t: float) -> dict:
        rss, hwm = srv.rss_mb()
        lag = 0
        for fid in range(opts.followers):
            inst = insts[fid % len(insts)]
            lag = max(lag, update_seq(probe, inst) - load.follower_seq.get(fid, 0))
        total, errors = load.stats.total()
        s = {"t": round(t, 1), "rss_mb": round(rss, 2), "vm_hwm_mb": round(hwm, 1),
             "threads": thread_count(srv.pid), "fds": fd_count(srv.pid),
             "wal_mb": round(dir_size(srv.data, "-wal") / 1e6, 2) if sqlite else None,
             "store_mb": round(store_size(srv.data, srv.db_url, engine.pg_admin_url) / 1e6, 1),
             "requests": total, "errors": errors, "follower_lag": lag}
        samples.append(s)
        return s

    rss0, _ = srv.rss_mb()
    log(f"{e}: soak for {opts.minutes:g} min ({opts.warmup_minutes:g} min warm-up): "
        f"{opts.clients - opts.followers} mixed clients and {opts.followers} _changes followers "
        f"on {len(insts)} instances; RSS before {rss0:.1f} MB")
    # Followers start from the current sequence of their instance.
    for fid in range(opts.followers):
        inst = insts[fid % len(insts)]
        t = threading.Thread(target=load.follower, args=(fid, inst, update_seq(probe, inst)), daemon=True)
        load.threads.append(t)
        t.start()
    t0 = time.monotonic()
    end = t0 + duration
    workers = [threading.Thread(target=load.worker, args=(w, end), daemon=True)
               for w in range(opts.clients - opts.followers)]
    for t in workers:
        t.start()
    load.stats.t0 = t0
    # Sample every --sample-seconds, and exactly at the end of the warm-up
    # (the reference) and of the run.
    ticks = sorted({*(k * opts.sample_seconds for k in range(1, int(duration // opts.sample_seconds) + 1)),
                    warmup, duration} - {0.0})
    if warmup <= 0:
        sample(0.0)["warmup_end"] = True
    last_log = 0.0
    try:
        for tick in ticks:
            pause = tick - (time.monotonic() - t0)
            if pause > 0:
                time.sleep(pause)
            now = time.monotonic() - t0
            srv.check_alive()
            s = sample(now)
            max_lag = max(max_lag, s["follower_lag"])
            if tick == warmup:
                s["warmup_end"] = True
                log(f"{e}: end of warm-up: RSS {s['rss_mb']:.1f} MB (the reference)")
            if now - last_log >= 30 or tick == duration:
                last_log = now
                rate = s["requests"] / now if now > 0 else 0
                log(f"{e}: t={now / 60:5.1f} min  {s['requests']:,} requests ({rate:,.0f}/s)  "
                    f"errors {s['errors']}  RSS {s['rss_mb']:.1f} MB  "
                    + (f"WAL {s['wal_mb']:.1f} MB  " if sqlite else "")
                    + f"store {s['store_mb']:.0f} MB  lag {s['follower_lag']}  fds {s['fds']}")
    finally:
        load.stop_workers.set()
        for t in workers:
            t.join(timeout=REQUEST_TIMEOUT_S + 5)
    elapsed = time.monotonic() - t0
    # The followers must reach the last write.
    catch_up = None
    finals = {fid: update_seq(probe, insts[fid % len(insts)]) for fid in range(opts.followers)}
    c0 = time.monotonic()
    while time.monotonic() - c0 < CATCH_UP_S:
        if all(load.follower_seq.get(f, 0) >= s for f, s in finals.items()):
            catch_up = time.monotonic() - c0
            break
        time.sleep(0.05)
    if catch_up is None:
        behind = {f: finals[f] - load.follower_seq.get(f, 0) for f in finals}
        load.stats.error("changes", f"followers still behind after {CATCH_UP_S:.0f} s: {behind}")
    load.stop_followers.set()
    for t in load.threads:
        t.join(timeout=LONGPOLL_MS / 1000 + REQUEST_TIMEOUT_S)
    probe.close()
    report(e, srv, load, samples, elapsed, catch_up, max_lag, opts, rows, sqlite)


def report(e: str, srv: Server, load: Load, samples: list[dict], elapsed: float, catch_up: float | None,
           max_lag: int, opts: argparse.Namespace, rows: list[Row], sqlite: bool) -> None:
    st = load.stats
    total, errors = st.total()
    warnings, first_warnings = srv.log_problems()
    # The rate over the first and the last minute (or sample) of the run.
    span = max(1, int(60 // opts.sample_seconds))
    def rate(a: dict, b: dict) -> float:
        return (b["requests"] - a["requests"]) / (b["t"] - a["t"]) if b["t"] > a["t"] else 0.0
    base = [{"t": 0.0, "requests": 0}] + samples
    first_rate = rate(base[0], base[min(span, len(base) - 1)])
    last_rate = rate(base[max(0, len(base) - 1 - span)], base[-1])
    rows.append(Row("requests", e, total / elapsed, "req/s", "(info)", "INFO",
                    note=f"{total:,} in {elapsed / 60:.1f} min; {first_rate:,.0f}/s in the first minute, "
                         f"{last_rate:,.0f}/s in the last; {st.conflicts:,} expected 409 conflicts on updates",
                    details={"counts": dict(st.counts), "conflicts": st.conflicts, "samples": samples}))
    for op in (*MIX, "changes"):
        lat = st.lat.get(op)
        if not lat:
            continue
        rows.append(Row(f"  {op}", e, float(len(lat)), "requests", "(info)", "INFO", digits=0,
                        note=f"p50 {statistics.median(lat):.2f} ms, p99 {percentile(lat, 99):.2f} ms, "
                             f"max {max(lat):.0f} ms" + (f"; {st.errors[op]} errors" if st.errors[op] else ""),
                        details={"count": len(lat), "p50_ms": statistics.median(lat),
                                 "p99_ms": percentile(lat, 99), "max_ms": max(lat)}))
    err_row = judged("errors (non-2xx but 409, socket errors)", e, float(errors), "errors", TARGET_ERRORS,
                     note="; ".join(st.examples[:3]), details={"by_kind": dict(st.errors), "examples": st.examples})
    err_row.target = "0"
    rows.append(err_row)

    ref_i = next((i for i, x in enumerate(samples) if x.get("warmup_end")), 0)
    after = samples[ref_i:]
    if len(after) >= 2:
        ref = after[0]["rss_mb"]
        lo, hi = min(s["rss_mb"] for s in after), max(s["rss_mb"] for s in after)
        dlo, dhi = (lo - ref) / ref * 100, (hi - ref) / ref * 100
        band = max(abs(dlo), abs(dhi))
        rows.append(judged("RSS after warm-up, largest drift", e, band, "%", TARGET_RSS_BAND_PCT,
                           note=f"{ref:.1f} MB at the end of warm-up; then {lo:.1f} to {hi:.1f} MB "
                                f"({dlo:+.1f} % / {dhi:+.1f} %); end {after[-1]['rss_mb']:.1f} MB, "
                                f"peak {after[-1]['vm_hwm_mb']:.1f} MB",
                           details={"reference_mb": ref, "min_mb": lo, "max_mb": hi}))
        rows[-1].target = f"±{TARGET_RSS_BAND_PCT:g} %"
        fds = [s["fds"] for s in after]
        thr = [s["threads"] for s in after]
        rows.append(Row("open files / threads after warm-up", e, float(max(fds)), "fds", "(info)", "INFO", digits=0,
                        note=f"fds {min(fds)}–{max(fds)}, threads {min(thr)}–{max(thr)}"))
        if sqlite:
            half = len(after) // 2
            first = max(s["wal_mb"] for s in after[:max(1, half)])
            second = max(s["wal_mb"] for s in after[half:])
            overall = max(s["wal_mb"] for s in samples)
            ok = second <= first * WAL_GROWTH_FACTOR + WAL_SLACK_MB
            rows.append(Row("SQLite WAL, largest size", e, overall, "MB",
                            f"stops growing (2nd half <= {WAL_GROWTH_FACTOR:g}x 1st + {WAL_SLACK_MB:g} MB)",
                            "PASS" if ok else "FAIL",
                            note=f"after warm-up: largest {first:.1f} MB in the first half, {second:.1f} MB in "
                                 f"the second; at the end {samples[-1]['wal_mb']:.1f} MB"))
        stores = [s["store_mb"] for s in samples]
        rows.append(Row("store size", e, stores[-1], "MB", "(info)", "INFO",
                        note=f"{stores[0]:.0f} MB at the first sample"))
    else:
        rows.append(Row("RSS after warm-up", e, None, "", f"±{TARGET_RSS_BAND_PCT:g} %", "ERROR",
                        note="fewer than 2 samples after the warm-up: run longer than --warmup-minutes"))
    rows.append(Row("_changes followers: catch-up at the end", e, catch_up, "s", f"(<= {CATCH_UP_S:g} s)",
                    "INFO" if catch_up is not None else "FAIL", digits=2,
                    note=f"largest lag seen at a sample: {max_lag} changes"))
    if warnings:
        rows.append(Row("WARN/ERROR lines in the server log", e, float(warnings), "lines", "(info)", "INFO",
                        digits=0, note=first_warnings[0][:200] if first_warnings else "",
                        details={"examples": first_warnings}))


def parse_mix(text: str) -> dict[str, int]:
    mix = dict(MIX)
    for part in filter(None, text.split(",")):
        op, _, w = part.partition("=")
        if op not in MIX or not w.isdigit():
            raise argparse.ArgumentTypeError(f"{part!r}: write OP=WEIGHT with OP one of {', '.join(MIX)}")
        mix[op] = int(w)
    if not any(mix.values()):
        raise argparse.ArgumentTypeError("every weight is 0")
    return mix


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_args(ap, "soak.py")
    ap.add_argument("--minutes", type=float, default=30.0, help="length of the load, per engine (default 30)")
    ap.add_argument("--warmup-minutes", type=float, default=5.0,
                    help="memory is judged against its value at the end of this (default 5)")
    ap.add_argument("--clients", type=int, default=16,
                    help="concurrent clients, followers included (default 16)")
    ap.add_argument("--followers", type=int, default=4,
                    help="how many of the clients follow _changes with longpoll (default 4)")
    ap.add_argument("--instances", type=int, default=4, help="instances the clients spread over (default 4)")
    ap.add_argument("--sample-seconds", type=float, default=10.0,
                    help="memory, WAL and lag are sampled this often (default 10)")
    ap.add_argument("--max-rate", type=float, default=0.0,
                    help="cap on the mixed clients' requests/s, all together (default 0: as fast as they go)")
    ap.add_argument("--mix", type=parse_mix, default=dict(MIX), metavar="OP=W,…",
                    help="change weights of the mix, e.g. find=0,get=40 (ops: " + ", ".join(MIX) + ")")
    opts = ap.parse_args()
    sys.stdout.reconfigure(line_buffering=True)
    if opts.minutes <= 0 or not 0 <= opts.warmup_minutes < opts.minutes:
        ap.error("--minutes must be > 0 and --warmup-minutes in [0, --minutes)")
    if opts.instances < 1 or not 0 <= opts.followers < opts.clients:
        ap.error("--instances must be >= 1 and --followers in [0, --clients)")

    return run_main(
        opts, "nuage soak",
        f"{opts.minutes:g} min per engine ({opts.warmup_minutes:g} min warm-up), {opts.clients} clients "
        f"({opts.followers} _changes followers), {opts.instances} instances; mix {opts.mix}",
        "the soak still counts errors and memory, but its rates will be low",
        soak_engine,
        {"mix": opts.mix, "targets": {"errors": TARGET_ERRORS, "rss_band_pct": TARGET_RSS_BAND_PCT,
                                 "wal_growth_factor": WAL_GROWTH_FACTOR, "wal_slack_mb": WAL_SLACK_MB}})

if __name__ == "__main__":
    sys.exit(main())
