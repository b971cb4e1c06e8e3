#!/usr/bin/env bash
# Installs the pinned npm packages of the PouchDB conformance scenarios with
# `npm ci` (from package-lock.json). A no-op when node_modules already matches
# the lock file, so tests can call it every time. Install scripts are not
# run: leveldown loads the prebuilt binary its package ships, and the only
# other one, sqlite3 (pouchdb-server --sqlite, unused here), would compile
# for a minute.
#
#   conformance/pouchdb/install.sh            # PouchDB 9 client only
#   conformance/pouchdb/install.sh --server   # also bench/pouchdb (pouchdb-server)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dirs=("$here")
case "${1-}" in
  --server) dirs+=("$(cd "$here/../../bench/pouchdb" && pwd)") ;;
  "") ;;
  *) echo "usage: $0 [--server]" >&2; exit 2 ;;
esac
command -v node >/dev/null || { echo "install.sh: node is not installed" >&2; exit 1; }
command -v npm >/dev/null || { echo "install.sh: npm is not installed" >&2; exit 1; }
for dir in "${dirs[@]}"; do
  stamp="$dir/node_modules/.installed-from"
  want="$(cat "$dir/package.json" "$dir/package-lock.json" | sha256sum | cut -d' ' -f1) node $(node --version)"
  if [[ -f $stamp && "$(cat "$stamp")" == "$want" ]]; then
    continue
  fi
  echo "install.sh: npm ci in $dir" >&2
  (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
  printf '%s\n' "$want" >"$stamp"
done
