#!/usr/bin/env node
// Replication and read benchmark: nuage's CouchDB-compatible document API
// against pouchdb-server, with the same PouchDB 9 client.
//
//   node bench/pouchdb/replication.mjs [options]
//
//   --nuage BASE         the server under test: a parent URL under which the
//                        client creates one database per run, e.g.
//                        http://localhost:PORT/data/ (databases are then
//                        doctypes PREFIX + random). Without it, a second
//                        pouchdb-server is started as a stand-in.
//   --nuage-token T      bearer token for it (or env NUAGE_TOKEN); its scope
//                        must cover PREFIX* (e.g. io.nuage.bench.*)
//   --reference BASE     a running CouchDB-compatible reference; default: a
//                        pouchdb-server started here
//   --reference-store S  memory (default: pouchdb-server --in-memory) or disk
//                        (its default store, LevelDB in a temp folder)
//   --prefix P           database/doctype name prefix (default io.nuage.bench.)
//   -n N                 documents (default 10000)
//   --runs R             push+pull runs per server, median reported (default 3)
//   --wrk-duration S     wrk run in seconds (default 10; 0 skips wrk)
//   --wrk-warmup S       (default 3)
//   --wrk-threads T      (default 1)
//   --wrk-connections C  (default 16)
//   --json FILE          also write every result as JSON
//
// Push and pull run conformance/pouchdb/scenarios.mjs push-pull, one fresh
// process and one fresh database per run, alternating between the servers
// and the client's floor (client_floor.mjs: a stub that does no work); each
// server's time above the floor is its own cost.
// Every server this script starts listens on 127.0.0.1 and is stopped when
// it ends (also on failure or Ctrl-C).

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, cpus, loadavg } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const scenarios = join(root, 'conformance', 'pouchdb', 'scenarios.mjs');
const serverBin = join(here, 'node_modules', '.bin', 'pouchdb-server');

// ---------------------------------------------------------------- options

function usage(msg) {
  if (msg) process.stderr.write(`replication.mjs: ${msg}\n`);
  process.stderr.write('usage: node bench/pouchdb/replication.mjs [--nuage BASE [--nuage-token T]] [--reference BASE]\n' +
    '       [--reference-store memory|disk] [-n N] [--runs R] [--prefix P] [--wrk-duration S] [--wrk-warmup S]\n' +
    '       [--wrk-threads T] [--wrk-connections C] [--json FILE]\n');
  process.exit(2);
}

const o = {
  nuage: null, nuageToken: process.env.NUAGE_TOKEN || null, reference: null, referenceStore: 'memory', prefix: 'io.nuage.bench.',
  n: 10_000, runs: 3, wrkDuration: 10, wrkWarmup: 3, wrkThreads: 1, wrkConnections: 16, json: null,
};
{
  const a = process.argv.slice(2);
  for (let i = 0; i < a.length; i++) {
    const v = () => (i + 1 < a.length ? a[++i] : usage(`${a[i]} needs a value`));
    const int = () => { const x = v(); if (!/^\d+$/.test(x)) usage(`not a number: ${x}`); return Number(x); };
    switch (a[i]) {
      case '--nuage': o.nuage = v(); break;
      case '--nuage-token': o.nuageToken = v(); break;
      case '--reference': o.reference = v(); break;
      case '--reference-store': o.referenceStore = v(); break;
      case '--prefix': o.prefix = v(); break;
      case '-n': case '--n': o.n = int(); break;
      case '--runs': o.runs = int(); break;
      case '--wrk-duration': o.wrkDuration = int(); break;
      case '--wrk-warmup': o.wrkWarmup = int(); break;
      case '--wrk-threads': o.wrkThreads = int(); break;
      case '--wrk-connections': o.wrkConnections = int(); break;
      case '--json': o.json = v(); break;
      case '-h': case '--help': usage(); break;
      default: usage(`unknown argument ${a[i]}`);
    }
  }
  if (o.runs < 1 || o.n < 1) usage('-n and --runs must be at least 1');
  if (!['memory', 'disk'].includes(o.referenceStore)) usage('--reference-store is memory or disk');
  for (const k of ['nuage', 'reference']) if (o[k] && !o[k].endsWith('/')) o[k] += '/';
}

const log = (m) => process.stderr.write(`[bench] ${m}\n`);

// ---------------------------------------------------- processes we started

const started = [];
const tempDirs = [];
function cleanup() {
  for (const p of started) {
    if (p.exitCode === null && p.signalCode === null) {
      try { p.kill('SIGTERM'); } catch { /* gone */ }
    }
  }
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
}
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { log(`${sig}: stopping`); process.exit(130); });

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

async function waitHttp(url, limitMs, proc) {
  const deadline = Date.now() + limitMs;
  for (;;) {
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (r.ok) return;
    } catch { /* not yet */ }
    if (proc && proc.exitCode !== null) throw new Error(`${url}: the server exited (${proc.exitCode})`);
    if (Date.now() > deadline) throw new Error(`${url} did not answer within ${limitMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** pouchdb-server on 127.0.0.1 in a temp folder, in memory or with its
 * LevelDB store there (`--reference-store`); its base URL. */
async function startPouchdbServer(label) {
  if (!existsSync(serverBin)) {
    throw new Error(`${serverBin} is missing: run conformance/pouchdb/install.sh --server`);
  }
  const dir = mkdtempSync(join(tmpdir(), `bench-pouchdb-${label}-`));
  tempDirs.push(dir);
  const port = await freePort();
  const store = o.referenceStore === 'disk' ? ['--dir', dir] : ['--in-memory'];
  const proc = spawn(serverBin, [...store, '--host', '127.0.0.1', '--port', String(port), '-c', join(dir, 'config.json'), '-n'],
    { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
  started.push(proc);
  const base = `http://127.0.0.1:${port}/`;
  await waitHttp(base, 30_000, proc);
  log(`${label}: pouchdb-server (${storeLabel()}) on ${base}, pid ${proc.pid}`);
  return { base, proc };
}

function storeLabel() {
  return o.referenceStore === 'disk' ? 'LevelDB on disk' : 'in memory';
}

/** The floor stub (client_floor.mjs) in a process of its own; its base URL. */
async function startFloor() {
  const proc = spawn(process.execPath, [join(here, 'client_floor.mjs')], { stdio: ['pipe', 'pipe', 'inherit'] });
  started.push(proc);
  const port = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('client_floor.mjs did not print its port within 10 s')), 10_000);
    proc.stdout.once('data', (d) => { clearTimeout(t); resolve(Number(String(d).trim())); });
    proc.once('exit', (c) => { clearTimeout(t); reject(new Error(`client_floor.mjs exited (${c})`)); });
  });
  const base = `http://127.0.0.1:${port}/`;
  log(`floor: stub server on ${base}, pid ${proc.pid}`);
  return { base, proc };
}

// --------------------------------------------------------------- the runs

function runClient(base, token) {
  return new Promise((resolve, reject) => {
    const env = { ...process.env };
    delete env.POUCH_URL;
    delete env.POUCH_BASE;
    if (token) env.POUCH_TOKEN = token; else delete env.POUCH_TOKEN;
    const args = [scenarios, 'push-pull', String(o.n), '--base', base, '--prefix', o.prefix, '--timeout', '900', '--no-changes-check'];
    const p = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    started.push(p);
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    p.on('close', (code) => {
      const last = out.trim().split('\n').pop();
      let r = null;
      try { r = JSON.parse(last); } catch { /* below */ }
      if (code === 0 && r && r.ok) resolve(r);
      else reject(new Error(`push-pull against ${base} failed (exit ${code}): ${r ? r.error : last}\n${err}`));
    });
  });
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const WRK_LUA = `
-- Random GET /{db}/doc-NNNNNN among the benchmark's documents.
local path, n
function init(args)
  path = args[1]
  n = tonumber(args[2])
  math.randomseed(os.time() + (tonumber(tostring({}):sub(8)) or 0))
end
function request()
  return wrk.format("GET", path .. string.format("doc-%06d", math.random(0, n - 1)))
end
`;

function parseWrk(out) {
  const num = (re) => { const m = re.exec(out); return m ? m : null; };
  const rps = num(/Requests\/sec:\s+([\d.]+)/);
  if (!rps) throw new Error(`cannot read wrk's output:\n${out}`);
  const durMs = (v, u) => Number(v) * { us: 0.001, ms: 1, s: 1000, m: 60_000 }[u];
  const res = { requests_per_s: Number(rps[1]) };
  for (const pct of ['50', '90', '99']) {
    const m = new RegExp(`^\\s*${pct}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(out);
    if (m) res[`p${pct}_ms`] = Math.round(durMs(m[1], m[2]) * 1000) / 1000;
  }
  const non2xx = num(/Non-2xx or 3xx responses:\s+(\d+)/);
  res.non_2xx = non2xx ? Number(non2xx[1]) : 0;
  const sock = num(/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/);
  res.socket_errors = sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
  return res;
}

/** wrk on GET {db}/doc-NNNNNN; connects to 127.0.0.1 for *.localhost. */
async function runWrk(dbUrl, token, seconds, scriptFile) {
  const u = new URL(dbUrl);
  const headers = [];
  let connectUrl = dbUrl;
  if (u.hostname === 'localhost' || u.hostname.endsWith('.localhost')) {
    headers.push('-H', `Host: ${u.host}`);
    connectUrl = `${u.protocol}//127.0.0.1:${u.port}${u.pathname}`;
  }
  if (token) headers.push('-H', `Authorization: Bearer ${token}`);
  // One checked request first: a broken URL must not become a fast 404 run.
  const first = await fetch(new URL('doc-000000', dbUrl.endsWith('/') ? dbUrl : dbUrl + '/'), {
    headers: token ? { Authorization: `Bearer ${token}` } : {},
  });
  if (first.status !== 200) throw new Error(`GET ${dbUrl}doc-000000 answered ${first.status}: ${(await first.text()).slice(0, 200)}`);
  const path = new URL(connectUrl).pathname.replace(/\/?$/, '/');
  const args = [`-t${o.wrkThreads}`, `-c${o.wrkConnections}`, `-d${seconds}s`, '--latency', ...headers,
    '-s', scriptFile, connectUrl, '--', path, String(o.n)];
  const r = spawnSync('wrk', args, { encoding: 'utf8', timeout: (seconds + 30) * 1000 });
  if (r.error) throw new Error(`wrk: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`wrk failed (${r.status}):\n${r.stdout}${r.stderr}`);
  return { ...parseWrk(r.stdout), raw: r.stdout };
}

// ------------------------------------------------------------------ main

const fmt = (x, d = 0) => (x === null || x === undefined ? '—' : Number(x).toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }));
const ratio = (a, b) => (a && b ? (a / b).toFixed(2) + '×' : '—');

async function main() {
  if (!existsSync(scenarios)) throw new Error(`${scenarios} is missing`);
  if (!existsSync(join(root, 'conformance', 'pouchdb', 'node_modules', 'pouchdb'))) {
    throw new Error('the PouchDB client is not installed: run conformance/pouchdb/install.sh --server');
  }
  const load = loadavg()[0];
  log(`${cpus().length} CPUs, load average ${load.toFixed(2)}${load > 0.5 ? ' (not quiet: numbers will be noisy)' : ''}`);

  const ref = o.reference ? { base: o.reference } : await startPouchdbServer('reference');
  const standIn = !o.nuage;
  const nu = o.nuage ? { base: o.nuage } : await startPouchdbServer('nuage-stand-in');
  const floor = await startFloor();
  const targets = [
    { key: 'floor', label: 'floor (stub server, no work)', base: floor.base, token: null, runs: [], noWrk: true },
    { key: 'reference', label: o.reference ? `reference (${o.reference})` : `pouchdb-server 4.2.0 (${storeLabel()})`, base: ref.base, token: null, runs: [] },
    { key: 'nuage', label: standIn ? 'nuage STAND-IN (a second pouchdb-server)' : `nuage (${o.nuage})`, base: nu.base, token: standIn ? null : o.nuageToken, runs: [] },
  ];

  for (let i = 0; i < o.runs; i++) {
    for (const t of targets) {
      log(`run ${i + 1}/${o.runs}: push+pull of ${o.n} documents against ${t.label}`);
      const r = await runClient(t.base, t.token);
      t.runs.push(r);
      log(`  push ${fmt(r.timings_ms.push)} ms, pull ${fmt(r.timings_ms.pull)} ms, client baseline ${fmt(r.client_baseline_ms.push)} / ${fmt(r.client_baseline_ms.pull)} ms`);
    }
  }
  for (const t of targets) {
    const pick = (f) => median(t.runs.map(f));
    t.median = {
      push_ms: pick((r) => r.timings_ms.push),
      pull_ms: pick((r) => r.timings_ms.pull),
      push_outside_http_ms: pick((r) => r.http.push.outside_http_ms),
      pull_outside_http_ms: pick((r) => r.http.pull.outside_http_ms),
      push_requests: pick((r) => r.http.push.requests),
      pull_requests: pick((r) => r.http.pull.requests),
      baseline_push_ms: pick((r) => r.client_baseline_ms.push),
      baseline_pull_ms: pick((r) => r.client_baseline_ms.pull),
    };
    t.lastDb = t.runs[t.runs.length - 1].remote;
  }

  let wrkSkipped = null;
  if (o.wrkDuration > 0) {
    if (spawnSync('wrk', ['-v'], { encoding: 'utf8' }).error) {
      wrkSkipped = 'wrk not found (apt-get install -y wrk)';
      log(wrkSkipped);
    } else {
      const dir = mkdtempSync(join(tmpdir(), 'bench-wrk-'));
      tempDirs.push(dir);
      const script = join(dir, 'get-doc.lua');
      writeFileSync(script, WRK_LUA);
      for (const t of targets.filter((x) => !x.noWrk)) {
        log(`wrk on ${t.label}: warm-up ${o.wrkWarmup} s, then ${o.wrkDuration} s, ${o.wrkThreads} thread(s), ${o.wrkConnections} connections`);
        if (o.wrkWarmup > 0) await runWrk(t.lastDb, t.token, o.wrkWarmup, script);
        t.wrk = await runWrk(t.lastDb, t.token, o.wrkDuration, script);
        log(`  ${fmt(t.wrk.requests_per_s)} requests/s, p99 ${t.wrk.p99_ms} ms`);
        if (t.wrk.non_2xx || t.wrk.socket_errors) log(`  WARNING: ${t.wrk.non_2xx} non-2xx answers, ${t.wrk.socket_errors} socket errors`);
      }
    }
  } else wrkSkipped = '--wrk-duration 0';

  const [F, R, N] = targets;
  const lines = [];
  lines.push(`PouchDB 9.0.0 client (Node ${process.version}), ${o.n} documents, median of ${o.runs} run(s); ratio = nuage ÷ reference.`);
  if (standIn) lines.push('NOTE: no --nuage given: "nuage" is a second pouchdb-server (plumbing check only).');
  lines.push('');
  lines.push(`| measure | ${R.label} | ${N.label} | ratio |`);
  lines.push('|---|---|---|---|');
  const row = (name, a, b, d = 0) => lines.push(`| ${name} | ${fmt(a, d)} | ${fmt(b, d)} | ${ratio(b, a)} |`);
  row('push, ms (end to end)', R.median.push_ms, N.median.push_ms);
  row('pull, ms (end to end)', R.median.pull_ms, N.median.pull_ms);
  lines.push(`| the client's floor (stub server): push / pull, ms | ${fmt(F.median.push_ms)} / ${fmt(F.median.pull_ms)} | | |`);
  const above = (t, k) => Math.max(0, t.median[k] - F.median[k]);
  for (const [name, k] of [['push', 'push_ms'], ['pull', 'pull_ms']]) {
    const [a, b] = [above(R, k), above(N, k)];
    const ok = a > 0 && b / a <= 1 / 3;
    lines.push(`| ${name}: time above the floor, ms (target: nuage ≤ 1/3 of the reference's) | ${fmt(a)} | ${fmt(b)} | ${ratio(b, a)} ${ok ? 'MET' : 'MISSED'} |`);
  }
  row('push: client time outside HTTP, ms', R.median.push_outside_http_ms, N.median.push_outside_http_ms);
  row('pull: client time outside HTTP, ms', R.median.pull_outside_http_ms, N.median.pull_outside_http_ms);
  row('push: HTTP requests', R.median.push_requests, N.median.push_requests);
  row('pull: HTTP requests', R.median.pull_requests, N.median.pull_requests);
  row('client baseline: local→local push, ms', R.median.baseline_push_ms, N.median.baseline_push_ms);
  row('client baseline: local→local pull, ms', R.median.baseline_pull_ms, N.median.baseline_pull_ms);
  if (R.wrk && N.wrk) {
    row(`GET /{db}/{id}, requests/s (wrk -t${o.wrkThreads} -c${o.wrkConnections} -d${o.wrkDuration}s)`, R.wrk.requests_per_s, N.wrk.requests_per_s);
    row('GET /{db}/{id}, p50 ms', R.wrk.p50_ms, N.wrk.p50_ms, 2);
    row('GET /{db}/{id}, p99 ms', R.wrk.p99_ms, N.wrk.p99_ms, 2);
  } else {
    lines.push(`| GET /{db}/{id} (wrk) | skipped: ${wrkSkipped} | | |`);
  }
  process.stdout.write(lines.join('\n') + '\n');

  if (o.json) {
    mkdirSync(dirname(o.json), { recursive: true });
    const strip = (t) => ({ ...t, token: t.token ? '(given)' : null, runs: t.runs.map(({ endpoints, ...r }) => r) });
    writeFileSync(o.json, JSON.stringify({
      date: new Date().toISOString(), node: process.version, cpus: cpus().length, load_at_start: load,
      options: { ...o, nuageToken: o.nuageToken ? '(given)' : null }, stand_in: standIn, targets: targets.map(strip), wrk_skipped: wrkSkipped,
    }, null, 2) + '\n');
    log(`results written to ${o.json}`);
  }
}

main().then(() => process.exit(0), (e) => {
  process.stderr.write(`replication.mjs: ${e.message}\n`);
  process.exit(1);
});
