#!/usr/bin/env python3
"""Does `_all_docs` stream in constant memory?

Fills a doctype with 10,000, then 100,000, then 1,000,000 small documents
(`--max-docs` to stop earlier) and at each size reads
`GET /data/{doctype}/_all_docs` (plain and with include_docs=true) through
a deliberately slow reader, sampling the server's resident memory (VmRSS)
every 20 ms. The peer in the same run is `_changes?include_docs=true` over
the same documents, which streams already (bench/changes_memory.py): the
ratio of what `_all_docs` adds above the idle server to what `_changes`
adds is printed for each size. Constant memory means what streaming adds
does not grow with the documents: the server reads the store a page at a
time and writes through a bounded channel.

Standard library only; builds nothing (`cargo build --release -p nuage`).

    python3 bench/all_docs_memory.py [--binary PATH] [--database-url URL] [--max-docs N]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from changes_memory import DOCTYPE, REPO, Server, fill, read_slowly, rss_mb

SIZES = (10_000, 100_000, 1_000_000)
# The peer goes first at each size: memory the allocator keeps after a
# greedy answer would otherwise count as the next answer's peak.
FEEDS = {
    "changes_include_docs": (f"/data/{DOCTYPE}/_changes?since=0&include_docs=true", b'"seq"'),
    "all_docs": (f"/data/{DOCTYPE}/_all_docs", b'"key":'),
    "all_docs_include_docs": (f"/data/{DOCTYPE}/_all_docs?include_docs=true", b'"key":'),
}
# What 100 times the documents may add to what streaming costs.
LIMIT_MB = 5


def label(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 else f"{n // 1000}k"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", type=Path, default=REPO / "target" / "release" / "nuage")
    ap.add_argument("--database-url", help="a PostgreSQL URL (an empty database); default SQLite")
    ap.add_argument("--max-docs", type=int, default=SIZES[-1])
    ap.add_argument("--json", type=Path)
    opts = ap.parse_args()
    if not opts.binary.exists():
        print(f"{opts.binary} is missing: run `cargo build --release -p nuage` first", file=sys.stderr)
        return 2
    sizes = [n for n in SIZES if n <= opts.max_docs]
    server = Server(opts.binary, opts.database_url)
    results: dict = {}
    try:
        written = 0
        for n in sizes:
            fill(server, written, n)
            written = n
            time.sleep(1)
            idle = round(rss_mb(server.proc.pid), 1)
            results[label(n)] = {"idle_rss_mb": idle}
            for feed, (path, marker) in FEEDS.items():
                r = read_slowly(server, path, marker)
                if r["rows"] != n:
                    raise SystemExit(f"{path} sent {r['rows']} rows of {n}")
                r["over_idle_mb"] = round(r["peak_rss_mb"] - idle, 1)
                results[label(n)][feed] = r
    finally:
        server.stop()
    print(f"{'docs':<6}{'answer':<24}{'MB sent':>10}{'seconds':>9}{'idle RSS':>10}{'peak RSS':>10}{'added MB':>10}")
    for n in sizes:
        at = results[label(n)]
        for feed in FEEDS:
            r = at[feed]
            print(f"{label(n):<6}{feed:<24}{r['bytes'] / 1e6:>10.1f}{r['seconds']:>9}{at['idle_rss_mb']:>10}"
                  f"{r['peak_rss_mb']:>10}{r['over_idle_mb']:>+10.1f}")
    for n in sizes:
        at = results[label(n)]
        mine, peer = at["all_docs_include_docs"]["over_idle_mb"], at["changes_include_docs"]["over_idle_mb"]
        if max(mine, peer) < 1:
            print(f"{label(n)}: _all_docs?include_docs adds {mine:+.1f} MB, _changes?include_docs {peer:+.1f} MB: "
                  "both within 1 MB of idle")
        else:
            print(f"{label(n)}: _all_docs?include_docs adds {mine / max(peer, 0.1):.2f}x what _changes?include_docs "
                  f"adds ({mine:+.1f} MB against {peer:+.1f} MB)")
    first, last = results[label(sizes[0])], results[label(sizes[-1])]
    growth = max(last[f]["over_idle_mb"] - first[f]["over_idle_mb"] for f in ("all_docs", "all_docs_include_docs"))
    verdict = "constant" if growth < LIMIT_MB else "NOT constant"
    print(f"verdict: {verdict} memory ({label(sizes[-1])} documents add {growth:+.1f} MB to what streaming "
          f"{label(sizes[0])} costs; limit {LIMIT_MB} MB)")
    if opts.json:
        opts.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
