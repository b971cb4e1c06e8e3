#!/usr/bin/env python3
"""Does `_changes` stream in constant memory?

Fills a doctype with 10,000 and then 100,000 small documents and reads
`GET /data/{doctype}/_changes?since=0` (plain and with include_docs=true)
through a deliberately slow reader, sampling the server's resident memory
(VmRSS) every 20 ms. Constant memory means the peak while streaming 100,000
changes is no higher than while streaming 10,000 (within noise): the server
reads the feed in pages and writes through a bounded channel, so a slow
client slows the producer instead of filling memory.

Standard library only; builds nothing (`cargo build --release -p nuage`).

    python3 bench/changes_memory.py [--binary PATH] [--database-url URL]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOCTYPE = "com.bench.changes"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Server:
    def __init__(self, binary: Path, db_url: str | None):
        self.dir = Path(tempfile.mkdtemp(prefix="nuage-changes-bench-"))
        self.port, admin = free_port(), free_port()
        self.base = ["--data", str(self.dir)] + (["--database-url", db_url] if db_url else [])
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NUAGE_", "DATABASE_URL"))}
        env["RUST_LOG"] = "warn"
        self.binary, self.env = binary, env
        self.proc = subprocess.Popen(
            [str(binary), "serve", *self.base, "--listen", f"127.0.0.1:{self.port}", "--admin-listen", f"127.0.0.1:{admin}"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.host = f"localhost:{self.port}"
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                c.request("GET", "/status")
                if c.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.05)
        else:
            self.stop()
            raise SystemExit("the server did not start within 30 s")
        self.token = subprocess.check_output(
            [str(binary), "token", self.host, "--scope", f"{DOCTYPE}:ALL", *self.base], env=env, text=True, timeout=60).strip()

    def request(self, method: str, path: str, body: bytes | None = None, timeout: float = 120):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        c.request(method, path, body=body, headers={
            "Host": self.host, "Authorization": f"Bearer {self.token}", "Content-Type": "application/json"})
        return c, c.getresponse()

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def fill(server: Server, start: int, end: int) -> None:
    for i in range(start, end, 1000):
        docs = [{"_id": f"d{j:07d}", "n": j, "text": "lorem ipsum dolor sit amet " * 3} for j in range(i, min(end, i + 1000))]
        c, r = server.request("POST", f"/data/{DOCTYPE}/_bulk_docs", json.dumps({"docs": docs}).encode())
        r.read()
        c.close()
        if r.status != 201:
            raise SystemExit(f"_bulk_docs answered {r.status}")


def read_slowly(server: Server, path: str, marker: bytes) -> dict:
    """GETs `path` and reads the whole answer slowly; returns peak RSS,
    bytes, rows (occurrences of `marker`, one per row) and seconds."""
    peak = [rss_mb(server.proc.pid)]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_mb(server.proc.pid))
            time.sleep(0.02)

    t = threading.Thread(target=sample)
    t.start()
    started = time.time()
    c, r = server.request("GET", path, timeout=600)
    if r.status != 200:
        raise SystemExit(f"GET {path} answered {r.status}")
    total, rows, carry = 0, 0, b""
    while True:
        chunk = r.read(16384)
        if not chunk:
            break
        total += len(chunk)
        # Count rows across chunk boundaries.
        text = carry + chunk
        rows += text.count(marker)
        carry = text[-(len(marker) - 1):]
        time.sleep(0.002)  # a slow client: the server must wait for it
    c.close()
    done.set()
    t.join()
    return {"peak_rss_mb": round(peak[0], 1), "bytes": total, "rows": rows, "seconds": round(time.time() - started, 2)}


def stream(server: Server, include_docs: bool) -> dict:
    """Reads the whole feed slowly; returns peak RSS, bytes, rows, seconds."""
    path = f"/data/{DOCTYPE}/_changes?since=0" + ("&include_docs=true" if include_docs else "")
    return read_slowly(server, path, b'"seq"')


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", type=Path, default=REPO / "target" / "release" / "nuage")
    ap.add_argument("--database-url", help="a PostgreSQL URL (an empty database); default SQLite")
    ap.add_argument("--json", type=Path)
    opts = ap.parse_args()
    if not opts.binary.exists():
        print(f"{opts.binary} is missing: run `cargo build --release -p nuage` first", file=sys.stderr)
        return 2
    server = Server(opts.binary, opts.database_url)
    results = {}
    try:
        fill(server, 0, 10_000)
        time.sleep(1)
        results["idle_rss_mb_10k"] = round(rss_mb(server.proc.pid), 1)
        results["10k"] = stream(server, False)
        results["10k_include_docs"] = stream(server, True)
        fill(server, 10_000, 100_000)
        time.sleep(1)
        results["idle_rss_mb_100k"] = round(rss_mb(server.proc.pid), 1)
        results["100k"] = stream(server, False)
        results["100k_include_docs"] = stream(server, True)
    finally:
        server.stop()
    print(f"{'feed':<22}{'rows':>9}{'MB sent':>10}{'seconds':>9}{'peak RSS MB':>13}")
    for k in ("10k", "10k_include_docs", "100k", "100k_include_docs"):
        r = results[k]
        print(f"{k:<22}{r['rows']:>9}{r['bytes'] / 1e6:>10.1f}{r['seconds']:>9}{r['peak_rss_mb']:>13}")
    # What streaming costs above the idle server (whose own memory grows
    # with the database: SQLite's page cache, the allocator's high water).
    over = {k: round(results[k]["peak_rss_mb"] - results["idle_rss_mb_" + k.split("_")[0]], 1)
            for k in ("10k", "10k_include_docs", "100k", "100k_include_docs")}
    results["streaming_overhead_mb"] = over
    print(f"idle RSS before streaming: {results['idle_rss_mb_10k']} MB with 10k docs, {results['idle_rss_mb_100k']} MB with 100k")
    print("memory streaming adds above idle: " + ", ".join(f"{k} {v:+.1f} MB" for k, v in over.items()))
    worst = max(over["100k"] - over["10k"], over["100k_include_docs"] - over["10k_include_docs"])
    verdict = "constant" if worst < 3 else "NOT constant"
    print(f"verdict: {verdict} memory (10x the changes add {worst:+.1f} MB to what streaming costs; limit 3 MB)")
    if opts.json:
        opts.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
