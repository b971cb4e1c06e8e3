#!/usr/bin/env bash
# Validates scenarios.mjs against pouchdb-server, a CouchDB-compatible
# reference: every scenario must pass there before it is used to judge nuage.
#
#   conformance/pouchdb/run-against-pouchdb-server.sh [N]     (N default 10000)
#
# Starts pouchdb-server on 127.0.0.1 (in memory for push-pull, conflict and
# attachments; on LevelDB in a temporary folder for resume, which it really
# restarts at the scenario's PAUSE: on the same port, then on a new port
# announced with `URL ...`, then with `CONNECT ...`). Every server it starts
# is stopped when it exits.
# Results: conformance/pouchdb/results/pouchdb-server-*.json, the endpoints
# PouchDB called in results/pouchdb-server-endpoints.md. Exit code 0 when all
# scenarios passed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
n=${1:-10000}
resume_n=${RESUME_N:-2000}

"$here/install.sh" --server
server_bin="$root/bench/pouchdb/node_modules/.bin/pouchdb-server"
results="$here/results"
mkdir -p "$results"
work=$(mktemp -d)
pids=()

cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# start_server NAME PORT [pouchdb-server options...]: starts it in its own
# folder under $work, waits until it answers; its pid in $server_pid.
start_server() {
  local name=$1 port=$2
  shift 2
  local dir="$work/$name"
  mkdir -p "$dir"
  (cd "$dir" && exec "$server_bin" --host 127.0.0.1 --port "$port" -c "$dir/config.json" -n "$@" >>"$dir/stdout.log" 2>&1) &
  server_pid=$!
  pids+=("$server_pid")
  local i
  for i in $(seq 1 150); do
    if curl -fsS -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null; then return 0; fi
    if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
    sleep 0.2
  done
  echo "pouchdb-server ($name) did not start on port $port:" >&2
  cat "$dir/stdout.log" >&2 || true
  exit 1
}

stop_server() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

failed=()
summary() { # scenario result-file
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").pop());
    const t = r.timings_ms ? " " + JSON.stringify(r.timings_ms) : "";
    const b = r.client_baseline_ms ? " client baseline " + JSON.stringify(r.client_baseline_ms) : "";
    console.log(`${r.ok ? "ok  " : "FAIL"} ${process.argv[2]}${t}${b}${r.ok ? "" : " — " + r.error}`);
  ' "$2" "$1"
}

run() { # label scenario-args...
  local label=$1
  shift
  local out="$results/pouchdb-server-$label.json"
  if node "$here/scenarios.mjs" "$@" <"/dev/null" >"$out" 2>"$work/$label.err"; then :; else
    failed+=("$label")
    cat "$work/$label.err" >&2
  fi
  summary "$label" "$out"
}

# --- in-memory server: push-pull, conflict, attachments
port=$(free_port)
start_server memory "$port" --in-memory
mem_pid=$server_pid
base="http://127.0.0.1:$port/"
run push-pull push-pull "$n" --base "$base"
run conflict conflict --base "$base"
run attachments attachments --base "$base"
stop_server "$mem_pid"

# --- resume: a persistent server, restarted while the client waits at PAUSE.
# run_resume LABEL MODE, MODE being how the server comes back:
#   same     on the same port (the client is told nothing: empty line)
#   url      on another port, the client told `URL http://127.0.0.1:NEW`
#   connect  on another port, the client told `CONNECT 127.0.0.1:NEW`; its
#            URLs name a port nobody listens on from the start (--connect),
#            as the Rust test does with a sibling nuage process
run_resume() {
  local label=$1 mode=$2
  local name="leveldb-$label" port
  port=$(free_port)
  start_server "$name" "$port" --dir "$work/$name/data"
  local pid=$server_pid
  local out="$results/pouchdb-server-$label.json"
  local saw_pause=0 line=""
  local target=(--base "http://127.0.0.1:$port/")
  if [[ $mode == connect ]]; then
    target=(--base "http://localhost:$(free_port)/" --connect "127.0.0.1:$port")
  fi
  : >"$out"
  coproc RESUME { exec node "$here/scenarios.mjs" resume "$resume_n" "${target[@]}" 2>"$work/$label.err"; }
  local from_client to_client
  exec {from_client}<&"${RESUME[0]}" {to_client}>&"${RESUME[1]}"
  local client_pid=$RESUME_PID
  pids+=("$client_pid")
  while IFS= read -r -t 300 -u "$from_client" line; do
    if [[ $line == PAUSE ]]; then
      saw_pause=1
      stop_server "$pid"
      local reply=""
      case $mode in
        url) port=$(free_port); reply="URL http://127.0.0.1:$port" ;;
        connect) port=$(free_port); reply="CONNECT 127.0.0.1:$port" ;;
      esac
      start_server "$name" "$port" --dir "$work/$name/data"
      pid=$server_pid
      printf '%s\n' "$reply" >&"$to_client"
    else
      printf '%s\n' "$line" >>"$out"
    fi
  done
  exec {to_client}>&- {from_client}<&-
  local rc=0
  wait "$client_pid" || rc=$?
  stop_server "$pid"
  if [[ $rc != 0 || $saw_pause != 1 ]]; then
    failed+=("$label")
    [[ $saw_pause == 1 ]] || echo "$label: the client never printed PAUSE" >&2
    cat "$work/$label.err" >&2
  fi
  summary "$label" "$out"
}
run_resume resume same
run_resume resume-url url
run_resume resume-connect connect

node "$here/endpoints.mjs" "$results"/pouchdb-server-{push-pull,conflict,attachments,resume}.json >"$results/pouchdb-server-endpoints.md"
echo "endpoints PouchDB called: $results/pouchdb-server-endpoints.md"

if ((${#failed[@]})); then
  echo "${#failed[@]} failed: ${failed[*]}" >&2
  exit 1
fi
echo "all scenarios passed against pouchdb-server"
