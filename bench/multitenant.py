#!/usr/bin/env python3
"""Many tenants, one server: does a busy neighbourhood slow one instance down,
and does a Mango index make a range query cheap?

Measures, on SQLite and (unless --no-postgres) on PostgreSQL:

  1. single-document write latency (median, p99) on one instance of a
     server that holds only that instance (3 Mango indexes, 100 documents);
  2. the same on one instance of a server holding --instances (default
     10,000) instances populated the same way, and the ratio of the two
     (target <= 1.3 on both);
  3. `_find` with a range, a sort and a limit over 100,000 documents of one
     instance, with a json index on the field, against the same range
     without an index (target >= 20x faster), and the entries the indexed
     query examined against the rows it returned (target: about equal).

Standard library only. Builds nothing: run `cargo build --release -p nuage`
first. Every process, temporary folder and database it creates is removed
at the end, also on failure or Ctrl-C. A missed target is reported, not
turned into a failing exit code; only a broken run exits non-zero.

    python3 bench/multitenant.py [--binary PATH] [--instances N] [--no-postgres] [--json FILE]
"""

from __future__ import annotations

import argparse
import random
import secrets
import statistics
import sys
import threading
import time
from pathlib import Path

from benchlib import (BenchError, Client, Engine, Row, Server, add_common_args, attempt, create_instance,
                      expect, judged, log, nuage_cli, percentile, run_main, store_args, store_size)

# The targets.
TARGET_WRITE_RATIO = 1.3      # many-instance latency / one-instance latency, p50 and p99
TARGET_FIND_SPEEDUP = 20.0    # unindexed / indexed `_find`
# "entries examined ≈ rows returned": allowed examined / returned. Above 1
# so that an index scan reading a small page ahead still passes.
TARGET_EXAMINED_RATIO = 1.5

DOCTYPE = "io.bench.docs"          # the populated doctype of every instance
FIND_DOCTYPE = "io.bench.range"    # the 100,000 documents of the range query
SCOPE = f"{DOCTYPE}:ALL {FIND_DOCTYPE}:ALL"
INDEXES = (["n"], ["t", "n"], ["s"])  # the three Mango indexes of every instance
TAGS = ("red", "green", "blue", "amber")
TOKEN_TTL_S = 86_400
SETTLE_S = 5.0                     # rest between populating and measuring
SLOW_TIMEOUT_S = 300.0             # one populating or bulk request, at most


def doc_body(n: int) -> dict:
    return {"n": n, "s": f"s{n:06d}", "t": TAGS[n % len(TAGS)], "text": "lorem ipsum dolor sit amet"}


STEPS = ("create", "token", "_index", "_bulk_docs")


def populate_instance(admin: Client, pub: Client, server: Server, domain: str, docs: int) -> tuple[str, list[float]]:
    """Creates the instance (admin API), a token (the CLI), its 3 indexes and
    its documents; returns the token and the seconds of each of the 4 steps."""
    took = [time.perf_counter()]
    create_instance(server.admin_port, server.admin_secret or "", domain, admin)
    took.append(time.perf_counter())
    token = nuage_cli(server.binary, ["token", domain, "--scope", SCOPE, "--ttl", str(TOKEN_TTL_S),
                                      *store_args(server.data, server.db_url)])
    if not token:
        raise BenchError(f"`nuage token {domain}` printed nothing")
    took.append(time.perf_counter())
    pub.host, pub.token = domain, token
    for fields in INDEXES:
        expect(pub.request("POST", f"/data/{DOCTYPE}/_index", {"index": {"fields": fields}}),
               (200, 201), f"POST _index {fields} on {domain}")
    took.append(time.perf_counter())
    r = expect(pub.request("POST", f"/data/{DOCTYPE}/_bulk_docs",
                           {"docs": [dict(doc_body(j), _id=f"doc{j:04d}") for j in range(docs)]}),
               (201,), f"_bulk_docs on {domain}")
    bad = [x for x in r.json() if not x.get("ok")]
    if bad:
        raise BenchError(f"_bulk_docs on {domain} refused {len(bad)} documents, e.g. {bad[0]}")
    took.append(time.perf_counter())
    return token, [b - a for a, b in zip(took, took[1:])]


def step_means(steps: list[list[float]]) -> dict:
    """Mean ms of each populating step over the first and the last tenth of
    the instances, in the order they finished."""
    k = max(1, len(steps) // 10)
    out = {}
    for part, chunk in (("first", steps[:k]), ("last", steps[-k:])):
        out[part] = {name: round(statistics.fmean(x[i] for x in chunk) * 1000, 1) for i, name in enumerate(STEPS)}
    return out


def populate(server: Server, domains: list[str], docs: int, connections: int,
             budget_s: float) -> tuple[dict[str, str], float, list[tuple[float, int]], list[list[float]]]:
    """Populates the instances with `connections` workers, each with its own
    keep-alive connections; prints progress every 10 s. Stops claiming new
    instances once `budget_s` has passed. Returns {domain: token} of those
    done, the seconds it took, the progress as (seconds, instances done)
    every 10 s, and each instance's step times (see `populate_instance`)."""
    tokens: dict[str, str] = {}
    steps: list[list[float]] = []
    lock = threading.Lock()
    next_i = [0]
    failure: list[BaseException] = []
    stop = threading.Event()
    t0 = time.monotonic()
    deadline = t0 + budget_s

    def worker() -> None:
        admin = Client(server.admin_port, "127.0.0.1", server.admin_secret, timeout=SLOW_TIMEOUT_S)
        pub = Client(server.port, "", None, timeout=SLOW_TIMEOUT_S)
        try:
            while not stop.is_set() and time.monotonic() < deadline:
                with lock:
                    i = next_i[0]
                    if i >= len(domains):
                        return
                    next_i[0] += 1
                token, took = populate_instance(admin, pub, server, domains[i], docs)
                with lock:
                    tokens[domains[i]] = token
                    steps.append(took)
        except BaseException as err:  # noqa: BLE001 — handed to the main thread
            failure.append(err)
            stop.set()
        finally:
            admin.close()
            pub.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(connections)]
    for t in threads:
        t.start()
    next_report = t0 + 10.0
    ticks: list[tuple[float, int]] = [(0.0, 0)]
    while True:
        alive = [t for t in threads if t.is_alive()]
        if not alive:
            break
        alive[0].join(timeout=max(0.1, next_report - time.monotonic()))
        server.check_alive()
        if time.monotonic() >= next_report:
            next_report += 10.0
            done, el = len(tokens), time.monotonic() - t0
            now_rate = (done - ticks[-1][1]) / (el - ticks[-1][0])
            ticks.append((el, done))
            # The rate of the last 10 s: it falls as the server fills up.
            eta = f"{(len(domains) - done) / now_rate / 60:,.1f} min" if now_rate > 0 else "?"
            log(f"  populated {done:,}/{len(domains):,} instances in {el:,.0f} s "
                f"({done / el:,.1f}/s overall, {now_rate:,.1f}/s now; ETA at this rate {eta})")
    if failure:
        err = failure[0]
        if isinstance(err, (KeyboardInterrupt, SystemExit)):
            raise err
        raise BenchError(f"populating failed after {len(tokens)} instances: {err}") from err
    took = time.monotonic() - t0
    ticks.append((took, len(tokens)))
    return tokens, took, ticks, steps


def end_rate(ticks: list[tuple[float, int]]) -> float:
    """Instances per second over the last tenth of the populating (at least
    the last 10 s)."""
    t_end, n_end = ticks[-1]
    for t, n in reversed(ticks[:-1]):
        if n <= n_end * 0.9 and t_end - t >= 10.0 or t == 0.0:
            return (n_end - n) / (t_end - t) if t_end > t else 0.0
    return 0.0


def measure_writes(c: Client, docs: int, writes: int, warmup: int, seed: int) -> dict:
    """`warmup + writes` sequential single-document PUTs on one keep-alive
    connection: new documents and updates of existing ones, alternately.
    Returns latency statistics (ms) of the last `writes`."""
    rng = random.Random(seed)
    revs: dict[str, str] = {}
    # The current revisions of the populated documents (not timed).
    r = expect(c.request("GET", f"/data/{DOCTYPE}/_all_docs?limit={docs + 10}"), (200,), "_all_docs")
    for row in r.json()["rows"]:
        if not row["id"].startswith("_design/"):
            revs[row["id"]] = row["value"]["rev"]
    if not revs:
        raise BenchError("the measured instance has no documents")
    ids = list(revs)
    lat: list[float] = []
    tag = secrets.token_hex(3)
    for i in range(warmup + writes):
        if i % 2 == 0:
            doc_id = f"w{tag}-{i:06d}"
            body = doc_body(docs + i)
        else:
            doc_id = rng.choice(ids)
            body = dict(doc_body(rng.randrange(1_000_000)), _rev=revs[doc_id])
        r = expect(c.request("PUT", f"/data/{DOCTYPE}/{doc_id}", body), (201,), f"PUT {doc_id}")
        if doc_id not in revs:
            ids.append(doc_id)
        revs[doc_id] = r.json()["rev"]
        if i >= warmup:
            lat.append(r.seconds * 1000.0)
    return {"writes": len(lat), "median_ms": statistics.median(lat), "p90_ms": percentile(lat, 90),
            "p99_ms": percentile(lat, 99), "mean_ms": statistics.fmean(lat), "max_ms": max(lat)}


def start_server(engine: Engine, binary: Path, tag: str) -> Server:
    data, db_url = engine.new_store(tag)
    srv = Server(binary, data, db_url, admin_secret="nas_bench_" + secrets.token_hex(16))
    srv.start()
    srv.wait_ready()
    return srv


def server_notes(srv: Server, engine: Engine) -> dict:
    rss, hwm = srv.rss_mb()
    warnings, first = srv.log_problems()
    return {"rss_mb": round(rss, 1), "vm_hwm_mb": round(hwm, 1),
            "store_mb": round(store_size(srv.data, srv.db_url, engine.pg_admin_url) / 1e6, 1),
            "log_warnings": warnings, "log_warning_examples": first}


# --------------------------------------------------------------------------
# 1 + 2: write latency, one instance alone and among many


def bench_writes(engine: Engine, binary: Path, opts: argparse.Namespace, rows: list[Row]) -> None:
    e = engine.name
    results: dict = {}

    def one_server(label: str, count: int) -> dict:
        srv = start_server(engine, binary, label)
        domains = [f"d{i}.localhost" for i in range(count)]
        log(f"{e}: {label}: populating {count:,} instance(s): {len(INDEXES)} indexes and "
            f"{opts.docs:,} documents each, {opts.connections} connections")
        tokens, took, ticks, steps = populate(srv, domains, opts.docs, min(opts.connections, count),
                                opts.populate_minutes * 60.0)
        if domains[0] not in tokens:
            raise BenchError(f"{label}: the measured instance {domains[0]} was not populated")
        time.sleep(SETTLE_S)
        notes = server_notes(srv, engine)
        log(f"{e}: {label}: {len(tokens):,} instances in {took:,.1f} s; RSS {notes['rss_mb']} MB, "
            f"store {notes['store_mb']} MB; {opts.writes:,} writes (+{opts.warmup_writes} warm-up) on {domains[0]}")
        c = Client(srv.port, domains[0], tokens[domains[0]], timeout=SLOW_TIMEOUT_S)
        try:
            w = measure_writes(c, opts.docs, opts.writes, opts.warmup_writes, seed=1)
        finally:
            c.close()
        srv.check_alive()
        srv.stop()
        log(f"{e}: {label}: writes p50 {w['median_ms']:.2f} ms, p99 {w['p99_ms']:.2f} ms")
        return dict(w, instances=len(tokens), asked=count, populate_s=round(took, 1),
                    end_rate=round(end_rate(ticks), 2), progress=ticks, step_ms=step_means(steps), **notes)

    def alone() -> None:
        results["one"] = one_server("one-instance", 1)
        w = results["one"]
        for key, label in (("median_ms", "p50"), ("p99_ms", "p99")):
            rows.append(Row(f"write {label}, server with 1 instance", e, w[key], "ms", "(baseline)",
                            "INFO", digits=2, details=w if key == "median_ms" else {}))

    def many() -> None:
        w = results["many"] = one_server("many", opts.instances)
        n = w["instances"]
        partial = "" if n == w["asked"] else f" (budget of {opts.populate_minutes:g} min hit: {n:,} of {w['asked']:,})"
        rows.append(Row(f"populate {n:,} instances", e, w["populate_s"], "s", "(info)", "INFO",
                        note=f"{n / w['populate_s']:,.1f} instances/s overall, {w['end_rate']:,.1f}/s in the last tenth"
                             f"{partial}; then RSS {w['rss_mb']} MB, store {w['store_mb']} MB"
                             + f"; ms per instance, last tenth: "
                             + ", ".join(f"{k} {v:,.0f}" for k, v in w["step_ms"]["last"].items())
                             + (f"; {w['log_warnings']} WARN/ERROR lines in the server log" if w["log_warnings"] else ""),
                        details=w))
        for key, label in (("median_ms", "p50"), ("p99_ms", "p99")):
            rows.append(Row(f"write {label}, server with {n:,} instances", e, w[key], "ms", "(info)",
                            "INFO", digits=2))
        if "one" not in results:
            raise BenchError("no baseline to compare with (the one-instance run failed)")
        base = results["one"]
        for key, label in (("median_ms", "p50"), ("p99_ms", "p99")):
            ratio = w[key] / base[key]
            rows.append(judged(f"write {label} ratio, {n:,} instances / 1", e, ratio, "×", TARGET_WRITE_RATIO,
                               digits=2, note=f"{w[key]:.2f} ms / {base[key]:.2f} ms{partial}"))

    attempt(rows, e, "writes, 1 instance", alone)
    attempt(rows, e, f"writes, {opts.instances:,} instances", many)


# --------------------------------------------------------------------------
# 3: `_find` with a range and a sort, with and without an index


def bench_find(engine: Engine, binary: Path, opts: argparse.Namespace, rows: list[Row]) -> None:
    e = engine.name

    def run() -> None:
        srv = start_server(engine, binary, "find")
        domain = "f.localhost"
        create_instance(srv.admin_port, srv.admin_secret or "", domain)
        token = nuage_cli(binary, ["token", domain, "--scope", SCOPE, "--ttl", str(TOKEN_TTL_S),
                                   *store_args(srv.data, srv.db_url)])
        c = Client(srv.port, domain, token, timeout=SLOW_TIMEOUT_S)
        try:
            find_steps(c, srv, engine, opts, rows)
        finally:
            c.close()
        srv.check_alive()
        srv.stop()

    attempt(rows, e, f"_find over {opts.find_docs:,} documents", run)


def timed_find(c: Client, query: dict, runs: int, warmup: int = 3) -> tuple[list[float], dict]:
    """Client-side times (ms) of `runs` identical `_find`s after a warm-up,
    and the last answer."""
    times, last = [], {}
    for i in range(warmup + runs):
        r = expect(c.request("POST", f"/data/{FIND_DOCTYPE}/_find", query), (200,), "_find")
        last = r.json()
        if i >= warmup:
            times.append(r.seconds * 1000.0)
    return times, last


def find_steps(c: Client, srv: Server, engine: Engine, opts: argparse.Namespace, rows: list[Row]) -> None:
    e, n_docs = engine.name, opts.find_docs
    # The values of `n` are 0..N-1 in a shuffled order, so neither the ids
    # nor the insertion order follow `n`.
    values = list(range(n_docs))
    random.Random(42).shuffle(values)
    log(f"{e}: loading {n_docs:,} documents into {FIND_DOCTYPE} (_bulk_docs of 1,000)")
    t0 = time.monotonic()
    for start in range(0, n_docs, 1000):
        docs = [dict(doc_body(values[i]), _id=f"r{i:06d}") for i in range(start, min(n_docs, start + 1000))]
        r = expect(c.request("POST", f"/data/{FIND_DOCTYPE}/_bulk_docs", {"docs": docs}), (201,), "_bulk_docs")
        if any(not x.get("ok") for x in r.json()):
            raise BenchError("_bulk_docs refused documents while loading")
    load_s = time.monotonic() - t0
    log(f"{e}: loaded in {load_s:.1f} s ({n_docs / load_s:,.0f} docs/s)")
    time.sleep(SETTLE_S)  # let the engine finish what the load started (checkpoint, autovacuum)

    lo = n_docs // 2
    hi = lo + min(opts.find_range, n_docs - lo)
    limit = min(50, hi - lo)
    selector = {"n": {"$gte": lo, "$lt": hi}}
    runs = opts.find_runs

    # Without an index nuage refuses a sort (CouchDB's no_usable_index). The
    # same question without an index is then: every document in the range
    # (the client sorts them and keeps the first 50): that is the reference.
    # The same range with the same limit, unsorted, is shown too; a server
    # that stops reading at the limit answers it fast, but it is another
    # answer (50 documents of the range, not the 50 smallest).
    all_q = {"selector": selector, "limit": hi - lo, "execution_stats": True}
    log(f"{e}: unindexed _find {selector} (every match), {runs} runs")
    all_t, all_ans = timed_find(c, all_q, runs)
    got = sorted(d["n"] for d in all_ans["docs"])
    if got != list(range(lo, hi)):
        raise BenchError(f"the unindexed _find returned {len(got)} documents, not the {hi - lo} of the range")
    plain_q = {"selector": selector, "limit": limit, "execution_stats": True}
    plain_t, plain = timed_find(c, plain_q, max(5, runs // 4), warmup=1)
    got = [d["n"] for d in plain["docs"]]
    if len(got) != limit or not all(lo <= v < hi for v in got):
        raise BenchError(f"the unindexed _find returned {len(got)} documents, some out of range: {got[:5]}")

    t0 = time.monotonic()
    expect(c.request("POST", f"/data/{FIND_DOCTYPE}/_index",
                     {"index": {"fields": ["n"]}, "ddoc": "by-n", "name": "by-n"}), (200, 201), "_index")
    index_s = time.monotonic() - t0
    time.sleep(SETTLE_S)

    sorted_q = {"selector": selector, "sort": [{"n": "asc"}], "limit": limit, "execution_stats": True}
    log(f"{e}: indexed _find {selector} sort n asc limit {limit}, {runs} runs")
    idx_t, idx = timed_find(c, sorted_q, runs)
    got = [d["n"] for d in idx["docs"]]
    if got != list(range(lo, lo + limit)):
        raise BenchError(f"the indexed _find returned the wrong documents: {got[:5]}…")
    explain = expect(c.request("POST", f"/data/{FIND_DOCTYPE}/_explain",
                               {k: v for k, v in sorted_q.items() if k != "execution_stats"}),
                     (200,), "_explain").json()

    plain_ms, all_ms, idx_ms = statistics.median(plain_t), statistics.median(all_t), statistics.median(idx_t)
    st, pst, ast_ = idx.get("execution_stats", {}), plain.get("execution_stats", {}), all_ans.get("execution_stats", {})
    sql = explain.get("sql", {})
    details = {"load_s": round(load_s, 1), "index_create_s": round(index_s, 2), "range": [lo, hi], "limit": limit,
               "indexed_ms": idx_t, "unindexed_ms": plain_t, "unindexed_all_ms": all_t,
               "indexed_stats": st, "unindexed_stats": pst, "unindexed_all_stats": ast_,
               "explain_sql": sql}
    rows.append(Row(f"load {n_docs:,} docs (_bulk_docs of 1,000)", e, load_s, "s", "(info)", "INFO",
                    note=f"{n_docs / load_s:,.0f} docs/s; the index on n then took {index_s:.2f} s to create",
                    details=details))
    rows.append(Row(f"_find range, no index, all {hi - lo:,} matches", e, all_ms, "ms", "(info)", "INFO",
                    digits=2, note=f"median of {runs}; the reference: a client without an index sorts these; "
                                   f"examined {ast_.get('total_docs_examined', '?')} docs"))
    rows.append(Row(f"_find range, no index, limit {limit}, unsorted", e, plain_ms, "ms", "(info)", "INFO",
                    digits=2, note=f"median of {len(plain_t)}; another answer (any {limit} of the range); "
                                   f"examined {pst.get('total_docs_examined', '?')} docs"))
    rows.append(Row(f"_find range + sort, index on n, limit {limit}", e, idx_ms, "ms", "(info)", "INFO",
                    digits=2, note=f"median of {runs}; SQL uses the index: {sql.get('uses_index')}; "
                                   f"plan {' / '.join(sql.get('plan', []))[:120]}"))
    rows.append(judged("_find speed-up, index vs none", e, all_ms / idx_ms, "×", TARGET_FIND_SPEEDUP,
                       at_least=True, note=f"{all_ms:.2f} ms / {idx_ms:.2f} ms; against the unsorted "
                                           f"limit-{limit} query: {plain_ms / idx_ms:.1f}×"))
    returned = max(1, st.get("results_returned", 0))
    examined = max(st.get("total_keys_examined", 0), st.get("total_docs_examined", 0))
    rows.append(judged("_find entries examined / rows returned", e, examined / returned, "×",
                       TARGET_EXAMINED_RATIO, digits=2,
                       note=f"keys examined {st.get('total_keys_examined')}, docs examined "
                            f"{st.get('total_docs_examined')}, returned {st.get('results_returned')}"))
    log(f"{e}: _find unindexed {all_ms:.1f} ms, indexed {idx_ms:.1f} ms ({all_ms / idx_ms:.1f}×); "
        f"indexed examined {examined} for {returned} rows")


# --------------------------------------------------------------------------


def bench_engine(engine: Engine, binary: Path, opts: argparse.Namespace) -> list[Row]:
    rows: list[Row] = []
    if opts.only in (None, "writes"):
        bench_writes(engine, binary, opts, rows)
    if opts.only in (None, "find"):
        bench_find(engine, binary, opts, rows)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_args(ap, "multitenant.py")
    ap.add_argument("--instances", type=int, default=10_000,
                    help="instances on the crowded server (default 10000)")
    ap.add_argument("--docs", type=int, default=100, help="documents per instance (default 100)")
    ap.add_argument("--connections", type=int, default=4,
                    help="concurrent keep-alive connections while populating (default 4)")
    ap.add_argument("--populate-minutes", type=float, default=30.0,
                    help="stop populating after this long and measure with the instances done (default 30)")
    ap.add_argument("--writes", type=int, default=2000, help="timed single-document writes (default 2000)")
    ap.add_argument("--warmup-writes", type=int, default=200, help="untimed writes first (default 200)")
    ap.add_argument("--find-docs", type=int, default=100_000,
                    help="documents of the _find measurement (default 100000)")
    ap.add_argument("--find-range", type=int, default=1000,
                    help="width of the range of n queried, in values (default 1000)")
    ap.add_argument("--find-runs", type=int, default=21, help="timed runs of each _find (default 21)")
    ap.add_argument("--only", choices=("writes", "find"), help="run one part only")
    opts = ap.parse_args()
    sys.stdout.reconfigure(line_buffering=True)
    if opts.instances < 1 or opts.docs < 1 or opts.writes < 1 or opts.find_docs < 100:
        ap.error("--instances, --docs and --writes must be at least 1, --find-docs at least 100")

    return run_main(
        opts, "nuage multi-tenant benchmark",
        f"{opts.instances:,} instances x {len(INDEXES)} indexes x {opts.docs} docs; "
        f"{opts.writes:,} writes; _find over {opts.find_docs:,} docs",
        "latencies, p99 above all, will suffer; rerun on a quiet machine",
        bench_engine,
        {"targets": {"write_ratio": TARGET_WRITE_RATIO, "find_speedup": TARGET_FIND_SPEEDUP,
                     "examined_per_returned": TARGET_EXAMINED_RATIO}})

if __name__ == "__main__":
    sys.exit(main())
