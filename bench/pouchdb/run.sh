#!/usr/bin/env bash
# Runs the replication benchmark against a fresh release nuage (SQLite, or
# PostgreSQL with --postgres) and pouchdb-server, side by side, in one run.
#   cargo build --release -p nuage && bench/pouchdb/run.sh [--postgres] [replication.mjs options]
set -euo pipefail
cd "$(dirname "$0")/../.."
bin="${NUAGE_BIN:-${CARGO_TARGET_DIR:-target}/release/nuage}"
[ -x "$bin" ] || { echo "run 'cargo build --release -p nuage' first" >&2; exit 2; }
conformance/pouchdb/install.sh --server >/dev/null
# The GET measurement needs wrk; install it where Debian's apt can.
if ! command -v wrk >/dev/null && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  apt-get install -y -qq wrk >/dev/null || echo "could not install wrk; the GET measurement will be skipped" >&2
fi

db_args=()
pg_db=""
if [ "${1:-}" = "--postgres" ]; then
  shift
  pg_db="nuage_bench_$$"
  psql -q -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE $pg_db" >/dev/null
  db_args=(--database-url "postgres://postgres@127.0.0.1:5432/$pg_db")
fi
data=$(mktemp -d)
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
admin=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
RUST_LOG=warn "$bin" serve --data "$data" "${db_args[@]}" --listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$admin" >/dev/null &
pid=$!
cleanup() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$data"
  [ -n "$pg_db" ] && psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/status" >/dev/null && break; sleep 0.1; done
token=$("$bin" token "localhost:$port" --data "$data" "${db_args[@]}" --scope 'io.nuage.bench.*:ALL' --ttl 7200)
NUAGE_TOKEN=$token node bench/pouchdb/replication.mjs --nuage "http://localhost:$port/data/" "$@"
