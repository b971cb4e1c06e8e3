#!/usr/bin/env node
// Real-client conformance scenarios for a CouchDB-compatible database, driven
// by PouchDB 9 in Node (in-memory local databases, HTTP remote).
//
// The same script runs against any CouchDB-compatible server: pouchdb-server
// (to validate the scenarios) and nuage (`/data/{doctype}/`, bearer token).
//
//   node scenarios.mjs SCENARIO [N] [options]
//
// SCENARIO: push-pull [N=10000] | conflict | resume [N=2000] |
//           attachments | all (every one in turn, each on its own database)
//
// Where the remote database is (one of):
//   --base URL    parent URL; each scenario creates a fresh database under it,
//                 named PREFIX + scenario + '-' + random (env POUCH_BASE).
//                 pouchdb-server: http://127.0.0.1:PORT/
//                 nuage:          http://localhost:PORT/data/
//   --url URL     the exact database URL, which must be empty (env POUCH_URL);
//                 only with a single scenario.
// Options:
//   --token T        sends `Authorization: Bearer T` (env POUCH_TOKEN)
//   --connect H:P    open connections to H:P whatever the URL says, keeping
//                    the URL's Host header (as curl --connect-to; for a
//                    server behind a load balancer, or a test's sibling
//                    process serving the same instance)
//   --prefix P       database-name prefix for --base (default
//                    io.nuage.conformance.), a valid nuage doctype prefix
//   --trace FILE     one JSON line per HTTP request made to the remote
//   --batch-size B   replication batch_size (PouchDB default 100)
//   --resume-at K    resume: pause once K documents were written (default N/2)
//   --no-baseline    push-pull: skip the local-to-local client baseline
//   --no-changes-check  push-pull: skip the _changes paging check (the
//                    benchmark measures replication only)
//   --timeout S      bound on the whole run in seconds (default 600)
//   --pretty         indent the JSON result
//
// Output: the JSON result as the last line of stdout ({"ok":true,...}); on
// failure {"ok":false,"error":...} there, the reason on stderr, exit code 1.
// The `resume` scenario also prints the control line `PAUSE` on stdout (see
// scenarioResume) and then reads one line from stdin.

import PouchDB from 'pouchdb';
import memoryAdapter from 'pouchdb-adapter-memory';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync, appendFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import http from 'node:http';
import net from 'node:net';
import { performance } from 'node:perf_hooks';

PouchDB.plugin(memoryAdapter);

// ---------------------------------------------------------------- options

const SCENARIOS = ['push-pull', 'conflict', 'resume', 'attachments'];
const CHECKS = "scenario's own checks (not replication)";
const ALL_HTTP = [];

function usage(msg) {
  if (msg) process.stderr.write(`scenarios.mjs: ${msg}\n`);
  process.stderr.write(
    'usage: node scenarios.mjs (push-pull [N] | conflict | resume [N] | attachments | all)\n' +
      '       (--base URL | --url URL) [--token T] [--connect HOST:PORT] [--prefix P] [--trace FILE]\n' +
      '       [--batch-size B] [--resume-at K] [--no-baseline] [--no-changes-check] [--timeout S] [--pretty]\n',
  );
  process.exit(2);
}

/** `host:port` or `[v6]:port` → {host, port}; null when malformed. */
function parseHostPort(s) {
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(s);
  return m ? { host: m[1].replace(/^\[|\]$/g, ''), port: Number(m[2]) } : null;
}

/** An HTTP agent whose connections all go to `addr` ({host, port}). */
function connectAgent(addr) {
  const agent = new http.Agent({ keepAlive: true });
  agent.createConnection = (options) => net.createConnection({ ...options, host: addr.host, port: addr.port });
  return agent;
}

function parseArgs(argv) {
  const o = {
    scenario: null,
    n: null,
    base: process.env.POUCH_BASE || null,
    url: process.env.POUCH_URL || null,
    token: process.env.POUCH_TOKEN || null,
    connect: null,
    prefix: 'io.nuage.conformance.',
    trace: null,
    batchSize: null,
    resumeAt: null,
    baseline: true,
    changesCheck: true,
    timeout: 600,
    pretty: false,
  };
  const positional = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    const int = (v) => {
      if (!/^\d+$/.test(v)) usage(`${a}: not a number: ${v}`);
      return Number(v);
    };
    switch (a) {
      case '--base': o.base = value(); break;
      case '--url': o.url = value(); break;
      case '--token': o.token = value(); break;
      case '--connect': {
        const v = value();
        o.connect = parseHostPort(v) || usage(`--connect wants HOST:PORT, not ${v}`);
        break;
      }
      case '--prefix': o.prefix = value(); break;
      case '--trace': o.trace = value(); break;
      case '--batch-size': o.batchSize = int(value()); break;
      case '--resume-at': o.resumeAt = int(value()); break;
      case '--no-baseline': o.baseline = false; break;
      case '--no-changes-check': o.changesCheck = false; break;
      case '--timeout': o.timeout = int(value()); break;
      case '--pretty': o.pretty = true; break;
      case '-h': case '--help': usage(); break;
      default:
        if (a.startsWith('--')) usage(`unknown option ${a}`);
        positional.push(a);
    }
  }
  o.scenario = positional[0];
  if (!o.scenario || !(SCENARIOS.includes(o.scenario) || o.scenario === 'all')) {
    usage(o.scenario ? `unknown scenario ${o.scenario}` : 'no scenario given');
  }
  if (positional[1] !== undefined) {
    if (!/^\d+$/.test(positional[1]) || Number(positional[1]) < 1) usage(`bad N: ${positional[1]}`);
    o.n = Number(positional[1]);
  }
  if (positional.length > 2) usage('too many arguments');
  if (!o.base && !o.url) usage('give --base URL or --url URL (or POUCH_BASE / POUCH_URL)');
  if (o.url && o.scenario === 'all') usage('--url names one database: use --base with `all`');
  if (o.base && !o.base.endsWith('/')) o.base += '/';
  return o;
}

// ---------------------------------------------------------------- helpers

class Failure extends Error {}

function check(cond, msg) {
  if (!cond) throw new Failure(typeof msg === 'function' ? msg() : msg);
}

const ms = (t) => Math.round(t * 10) / 10;
const sleep = (t) => new Promise((r) => setTimeout(r, t));

async function timed(fn) {
  const t0 = performance.now();
  const value = await fn();
  return [value, ms(performance.now() - t0)];
}

/** Rejects with a clear message when `promise` takes longer than `limit` ms. */
function bounded(promise, limit, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Failure(`${what}: no result within ${limit / 1000} s`)), limit);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Polls `probe` until it returns a truthy value; fails after `limit` ms. */
async function until(probe, limit, what, every = 100) {
  const deadline = performance.now() + limit;
  let last;
  for (;;) {
    try {
      last = await probe();
      if (last && last.done) return last;
    } catch (e) {
      last = { error: String(e && e.message ? e.message : e) };
    }
    if (performance.now() > deadline) {
      throw new Failure(`${what}: not reached within ${limit / 1000} s; last state: ${JSON.stringify(last)}`);
    }
    await sleep(every);
  }
}

let localCounter = 0;
function localDb(label) {
  return new PouchDB(`local-${label}-${process.pid}-${++localCounter}`, { adapter: 'memory' });
}

function randomName(scenario) {
  return `${scenario.replace(/[^a-z0-9]/g, '')}-${randomBytes(4).toString('hex')}`;
}

/** One replication, wrapped as a promise of its result. */
function replicate(from, to, opts = {}) {
  return new Promise((resolve, reject) => {
    const rep = PouchDB.replicate(from, to, opts);
    rep.on('complete', resolve);
    rep.on('error', reject);
  });
}

function md5Digest(buf) {
  return 'md5-' + createHash('md5').update(buf).digest('base64');
}

function errText(e) {
  if (!e) return String(e);
  const bits = [e.message || String(e)];
  if (e.status) bits.push(`status ${e.status}`);
  if (e.name && e.name !== 'Error') bits.push(e.name);
  if (e.reason && e.reason !== e.message) bits.push(e.reason);
  if (e.result && Array.isArray(e.result.errors) && e.result.errors.length) {
    bits.push(`replication errors: ${e.result.errors.slice(0, 3).map((x) => errText(x)).join('; ')}`);
  }
  return bits.join(', ');
}

// ------------------------------------------------- instrumented HTTP client

/**
 * The remote database's HTTP client: adds the bearer token, records every
 * request (endpoint, parameters, status, time in flight, documents sent),
 * and can hold requests back (the `resume` scenario's pause).
 */
class Http {
  constructor(dbUrl, { token, trace }) {
    this.dbUrl = dbUrl.endsWith('/') ? dbUrl : dbUrl + '/';
    // PouchDB asks the parent of the database URL for the server's uuid.
    this.rootUrl = this.dbUrl.replace(/[^/]+\/$/, '');
    this.token = token;
    this.agent = null; // set by connectTo()
    this.traceFile = trace;
    this.rewrite = null; // [fromOrigin, toOrigin] after a server moved
    this.gate = null; // async (req) => void, awaited before each request
    this.endpoints = new Map(); // phase -> endpoint -> what was seen
    this.problems = []; // the last failed or non-2xx requests, for failure reports
    ALL_HTTP.push(this);
    this.phase = 'open';
    this.resetCounters();
    this.fetch = (url, opts) => this.send(url, opts, this.phase, true);
    // For the scenario's own checks: recorded apart, never held or counted.
    this.checkFetch = (url, opts) => this.send(url, opts, CHECKS, false);
  }

  resetCounters() {
    this.c = {
      requests: 0,
      errors: 0,
      non2xx: 0,
      bulkDocsRequests: 0,
      bulkDocsDocs: 0,
      bulkDocsWritten: 0,
      revsDiffIds: 0,
      bulkGetDocs: 0,
      bytesSent: 0,
      bytesReceived: 0,
      inFlightMs: 0,
    };
    this.active = 0;
    this.activeSince = 0;
    this.localReads = [];
  }

  snapshot() {
    const s = { ...this.c };
    if (this.active > 0) s.inFlightMs += performance.now() - this.activeSince;
    s.inFlightMs = ms(s.inFlightMs);
    return s;
  }

  /** From now on, open connections to addr ({host, port}), keeping URLs. */
  connectTo(addr) {
    if (this.agent) this.agent.destroy();
    this.agent = connectAgent(addr);
  }

  /** The URL to use once the server moved (`URL ...` after PAUSE). */
  moved(url) {
    return this.rewrite && url.startsWith(this.rewrite[0]) ? this.rewrite[1] + url.slice(this.rewrite[0].length) : url;
  }

  /** Endpoint template of a URL, relative to the database. */
  classify(url) {
    const u = new URL(url);
    const path = u.origin + u.pathname;
    const root = new URL(this.rootUrl);
    const db = new URL(this.dbUrl);
    const dbPath = db.origin + db.pathname;
    let tmpl;
    if (path === dbPath || path + '/' === dbPath) tmpl = '/{db}/';
    else if (path === root.origin + root.pathname) tmpl = '/ (parent of {db})';
    else if (path.startsWith(dbPath)) {
      const rest = path.slice(dbPath.length);
      const first = rest.split('/')[0];
      if (first.startsWith('_local')) tmpl = '/{db}/_local/{id}';
      else if (first.startsWith('_design')) tmpl = '/{db}/_design/{id}';
      else if (first.startsWith('_')) tmpl = `/{db}/${first}`;
      else if (rest.includes('/')) tmpl = '/{db}/{docid}/{attachment}';
      else tmpl = '/{db}/{docid}';
    } else tmpl = `OTHER ${u.pathname}`;
    return { tmpl, params: u.searchParams, path: u.pathname };
  }

  noteProblem(method, url, status, text) {
    const u = new URL(url);
    this.problems.push(`${method} ${u.pathname}${u.search} → ${status}${text ? ': ' + text.replace(/\s+/g, ' ').slice(0, 300) : ''}`);
    if (this.problems.length > 20) this.problems.shift();
  }

  record(phase, method, url, opts, status, res, body, err, t0, t1) {
    const { tmpl, params, path } = this.classify(url);
    const key = `${method} ${tmpl}`;
    if (!this.endpoints.has(phase)) this.endpoints.set(phase, new Map());
    const phaseMap = this.endpoints.get(phase);
    let e = phaseMap.get(key);
    if (!e) {
      e = { count: 0, statuses: {}, params: {}, body: {}, req_headers: {}, res_content_types: {} };
      phaseMap.set(key, e);
    }
    e.count++;
    const st = status === null ? `error: ${err}` : String(status);
    e.statuses[st] = (e.statuses[st] || 0) + 1;
    for (const [k, v] of params) {
      const shown = ['since', 'rev', 'open_revs', 'last_event_id', '_nonce'].includes(k) && v !== '0' && v !== 'all'
        ? `<${k}>`
        : v;
      const vals = (e.params[k] ||= []);
      if (!vals.includes(shown) && vals.length < 8) vals.push(shown);
    }
    if (opts.headers) {
      for (const h of ['content-type', 'accept']) {
        const v = opts.headers.get(h);
        if (v) {
          const vals = (e.req_headers[h] ||= []);
          if (!vals.includes(v)) vals.push(v);
        }
      }
    }
    if (res) {
      const ct = res.headers.get('content-type') || '(none)';
      e.res_content_types[ct] = (e.res_content_types[ct] || 0) + 1;
    }
    if (body && typeof body === 'object' && !Array.isArray(body)) {
      for (const [k0, v] of Object.entries(body)) {
        // _revs_diff's keys are document ids.
        const k = tmpl.endsWith('_revs_diff') ? '{docid}' : k0;
        const type = v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
        const shown = k === 'new_edits' || k === 'replicator' || k === 'version' ? JSON.stringify(v) : type;
        const vals = (e.body[k] ||= []);
        if (!vals.includes(shown)) vals.push(shown);
      }
    }
    if (body && Array.isArray(body.docs)) {
      // What the documents inside _bulk_docs / _bulk_get bodies carry.
      const fields = (e.doc_fields ||= []);
      const attFields = (e.attachment_fields ||= []);
      for (const d of body.docs) {
        for (const f of Object.keys(d)) {
          const shown = f.startsWith('_') || tmpl.endsWith('_bulk_get') ? f : '(document fields)';
          if (!fields.includes(shown)) fields.push(shown);
        }
        for (const att of Object.values(d._attachments || {})) {
          const shape = Object.keys(att).sort().join(',');
          if (!attFields.includes(shape)) attFields.push(shape);
        }
      }
    }
    if (this.traceFile) {
      appendFileSync(
        this.traceFile,
        JSON.stringify({
          t: ms(t0),
          ms: ms(t1 - t0),
          phase,
          method,
          path,
          query: Object.fromEntries(params),
          endpoint: tmpl,
          status: status ?? null,
          error: err || undefined,
          docs: body && Array.isArray(body.docs) ? body.docs.length : undefined,
        }) + '\n',
      );
    }
  }

  async send(url, opts = {}, phase, replication) {
    if (!replication) return this.sendUncounted(url, opts, phase);
    if (this.gate) await this.gate(url, opts);
    const target = this.moved(url);
    if (this.token) opts.headers.set('Authorization', `Bearer ${this.token}`);
    if (this.agent) opts.agent = this.agent;
    const method = (opts.method || 'GET').toUpperCase();
    let body = null;
    if (typeof opts.body === 'string') {
      this.c.bytesSent += Buffer.byteLength(opts.body);
      try { body = JSON.parse(opts.body); } catch { body = null; }
    }
    const { tmpl } = this.classify(url);
    this.c.requests++;
    if (this.active++ === 0) this.activeSince = performance.now();
    const t0 = performance.now();
    let res;
    let buf;
    try {
      res = await PouchDB.fetch(target, opts);
      // Read the whole body here, so the time in flight includes it.
      buf = await res.buffer();
    } catch (e) {
      this.c.errors++;
      this.noteProblem(method, url, 'network error', errText(e));
      this.record(phase, method, url, opts, null, null, body, errText(e), t0, performance.now());
      throw e;
    } finally {
      if (--this.active === 0) this.c.inFlightMs += performance.now() - this.activeSince;
    }
    this.c.bytesReceived += buf.length;
    this.record(phase, method, url, opts, res.status, res, body, null, t0, performance.now());
    if (!res.ok) {
      this.c.non2xx++;
      this.noteProblem(method, url, res.status, buf.toString('utf8'));
    }
    if (tmpl === '/{db}/_bulk_docs' && body && Array.isArray(body.docs)) {
      this.c.bulkDocsRequests++;
      this.c.bulkDocsDocs += body.docs.length;
      if (res.ok) {
        try {
          const out = JSON.parse(buf.toString('utf8'));
          // new_edits:false answers [] (CouchDB) or a list without errors.
          const errors = Array.isArray(out) ? out.filter((r) => r && r.error).length : 0;
          this.c.bulkDocsWritten += body.docs.length - errors;
        } catch { /* counted as sent only */ }
      }
    } else if (tmpl === '/{db}/_revs_diff' && body) {
      this.c.revsDiffIds += Object.keys(body).length;
    } else if (tmpl === '/{db}/_bulk_get' && body && Array.isArray(body.docs)) {
      this.c.bulkGetDocs += body.docs.length;
    } else if (tmpl === '/{db}/_local/{id}' && method === 'GET') {
      let parsed = null;
      try { parsed = JSON.parse(buf.toString('utf8')); } catch { /* not JSON */ }
      this.localReads.push({ status: res.status, last_seq: parsed && parsed.last_seq });
    }
    if (this.afterResponse) this.afterResponse(tmpl, method, res.status);
    const Response = res.constructor; // node-fetch's, with .buffer()
    return new Response(buf, { status: res.status, statusText: res.statusText, headers: res.headers, url: res.url });
  }

  async sendUncounted(url, opts, phase) {
    const target = this.moved(url);
    if (this.token) opts.headers.set('Authorization', `Bearer ${this.token}`);
    if (this.agent) opts.agent = this.agent;
    const method = (opts.method || 'GET').toUpperCase();
    const t0 = performance.now();
    let res;
    try {
      res = await PouchDB.fetch(target, opts);
    } catch (e) {
      this.noteProblem(method, url, 'network error', errText(e));
      this.record(phase, method, url, opts, null, null, null, errText(e), t0, performance.now());
      throw e;
    }
    this.record(phase, method, url, opts, res.status, res, null, null, t0, performance.now());
    if (!res.ok) this.noteProblem(method, url, res.status, '');
    return res;
  }

  /** What was requested, by phase of the scenario, then by endpoint. */
  endpointSummary() {
    return Object.fromEntries([...this.endpoints.entries()].map(([phase, m]) =>
      [phase, Object.fromEntries([...m.entries()].sort(([a], [b]) => a.localeCompare(b)))]));
  }

  /** A raw request to the database (not through PouchDB's API). */
  async raw(path, { method = 'GET', headers = {}, body } = {}) {
    const h = { ...headers };
    if (this.token) h.Authorization = `Bearer ${this.token}`;
    const res = await PouchDB.fetch(this.moved(this.dbUrl + path), { method, headers: h, body, agent: this.agent || undefined });
    const buf = await res.buffer();
    return { status: res.status, headers: res.headers, buf, json: () => JSON.parse(buf.toString('utf8')) };
  }
}

/** The remote database of a scenario: PouchDB over the instrumented client. */
async function openRemote(opts, scenario) {
  const url = opts.url || opts.base + opts.prefix + randomName(scenario);
  const http = new Http(url, opts);
  if (opts.connect) http.connectTo(opts.connect);
  const db = new PouchDB(http.dbUrl.replace(/\/$/, ''), { fetch: http.fetch });
  let info;
  try {
    info = await bounded(db.info(), 30_000, `GET ${http.dbUrl}`);
  } catch (e) {
    throw new Failure(`cannot open the remote database ${http.dbUrl}: ${errText(e)}`);
  }
  check(info.doc_count === 0, () => `remote database ${http.dbUrl} is not empty (doc_count ${info.doc_count}); give a fresh one`);
  // The same database for the scenario's checks, recorded apart.
  const checkDb = new PouchDB(http.dbUrl.replace(/\/$/, ''), { fetch: http.checkFetch, skip_setup: true });
  return { db, check: checkDb, http, url: http.dbUrl, info };
}

async function docCount(http) {
  const r = await http.raw('');
  check(r.status === 200, () => `GET ${http.dbUrl} answered ${r.status}: ${r.buf.toString('utf8').slice(0, 300)}`);
  const info = r.json();
  check(typeof info.doc_count === 'number', () => `db info has no numeric doc_count: ${JSON.stringify(info)}`);
  return info.doc_count;
}

/** Every id → winning rev of a database. */
async function revMap(db) {
  const all = await db.allDocs();
  return new Map(all.rows.map((r) => [r.id, r.value.rev]));
}

function compareRevMaps(expected, actual, what) {
  check(actual.size === expected.size, () => `${what}: ${actual.size} documents, expected ${expected.size}`);
  let bad = 0;
  let example = null;
  for (const [id, rev] of expected) {
    if (actual.get(id) !== rev) {
      bad++;
      example ||= `${id}: ${actual.get(id)} instead of ${rev}`;
    }
  }
  check(bad === 0, () => `${what}: ${bad} documents with another _rev, e.g. ${example}`);
}

function makeDoc(i) {
  return {
    _id: `doc-${String(i).padStart(6, '0')}`,
    type: 'note',
    title: `Note number ${i}`,
    body: `Some text for note ${i}: ${randomBytes(12).toString('base64')}`,
    n: i,
    done: i % 3 === 0,
    tags: ['bench', i % 2 ? 'odd' : 'even'],
    created_at: new Date(1_700_000_000_000 + i * 1000).toISOString(),
  };
}

async function createLocalDocs(db, n) {
  for (let i = 0; i < n; i += 1000) {
    const docs = [];
    for (let j = i; j < Math.min(n, i + 1000); j++) docs.push(makeDoc(j));
    const res = await db.bulkDocs(docs);
    const bad = res.filter((r) => !r.ok);
    check(bad.length === 0, () => `local bulkDocs failed: ${JSON.stringify(bad[0])}`);
  }
}

function stripForCompare(doc) {
  const { _rev, _revisions, _conflicts, ...rest } = doc;
  return rest;
}

function sameJson(a, b) {
  return JSON.stringify(sortKeys(a)) === JSON.stringify(sortKeys(b));
}

function sortKeys(v) {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') {
    return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys(v[k])]));
  }
  return v;
}

function sampleIds(n, count) {
  const ids = new Set([0, n - 1, Math.floor(n / 2)]);
  while (ids.size < Math.min(n, count)) ids.add(Math.floor(Math.random() * n));
  return [...ids].map((i) => `doc-${String(i).padStart(6, '0')}`);
}

function replOpts(opts, extra = {}) {
  const o = { ...extra };
  if (opts.batchSize) o.batch_size = opts.batchSize;
  return o;
}

// ------------------------------------------------------------- scenarios

/**
 * push-pull: N documents made locally, pushed, checked on the remote, pulled
 * into a fresh local database with the same revisions; timings of each phase
 * and of the same replications done local-to-local (the client's own cost).
 */
async function scenarioPushPull(opts) {
  const n = opts.n ?? 10_000;
  const remote = await openRemote(opts, 'push-pull');
  const t = {};
  const source = localDb('source');
  [, t.create_local] = await timed(() => createLocalDocs(source, n));
  const sourceRevs = await revMap(source);

  remote.http.resetCounters();
  remote.http.phase = 'push';
  const [push, pushMs] = await timed(() => bounded(replicate(source, remote.db, replOpts(opts)), opts.timeoutMs, 'push'));
  t.push = pushMs;
  const pushHttp = remote.http.snapshot();
  check(push.ok, () => `push did not complete: ${JSON.stringify(push)}`);
  check(push.docs_written === n, () => `push wrote ${push.docs_written} documents, expected ${n} (failures: ${push.doc_write_failures})`);

  const [, verifyMs] = await timed(async () => {
    const count = await docCount(remote.http);
    check(count === n, () => `remote doc_count is ${count} after the push, expected ${n}`);
    for (const id of sampleIds(n, 50)) {
      const [want, got] = await Promise.all([source.get(id), remote.check.get(id)]);
      check(got._rev === want._rev, () => `remote ${id} has _rev ${got._rev}, local ${want._rev}`);
      check(sameJson(stripForCompare(got), stripForCompare(want)), () => `remote ${id} differs: ${JSON.stringify(got)} vs ${JSON.stringify(want)}`);
    }
  });
  t.verify_remote = verifyMs;

  // What apps do with the changes feed besides replicating: PouchDB's
  // changes() pages through it 25 rows at a time, resuming from each page's
  // last_seq; an app pages with limit and since=last_seq.
  if (opts.changesCheck) {
    const [, changesMs] = await timed(() => checkChangesPaging(remote.check, n));
    t.changes_paging = changesMs;
  }

  const target = localDb('pulled');
  remote.http.resetCounters();
  remote.http.phase = 'pull';
  const [pull, pullMs] = await timed(() => bounded(replicate(remote.db, target, replOpts(opts)), opts.timeoutMs, 'pull'));
  t.pull = pullMs;
  const pullHttp = remote.http.snapshot();
  check(pull.ok, () => `pull did not complete: ${JSON.stringify(pull)}`);
  const [, verifyPullMs] = await timed(async () => {
    compareRevMaps(sourceRevs, await revMap(target), 'pulled database');
    for (const id of sampleIds(n, 50)) {
      const [want, got] = await Promise.all([source.get(id), target.get(id)]);
      check(sameJson(stripForCompare(got), stripForCompare(want)), () => `pulled ${id} differs`);
    }
  });
  t.verify_pull = verifyPullMs;

  const result = {
    n,
    remote: remote.url,
    push: { docs_read: push.docs_read, docs_written: push.docs_written },
    pull: { docs_read: pull.docs_read, docs_written: pull.docs_written },
    timings_ms: t,
    http: {
      push: { ...pushHttp, outside_http_ms: ms(t.push - pushHttp.inFlightMs) },
      pull: { ...pullHttp, outside_http_ms: ms(t.pull - pullHttp.inFlightMs) },
    },
  };

  if (opts.baseline) {
    // The client's own cost: the same replications between two in-memory
    // databases in this process, with no HTTP and no server.
    const mirror = localDb('baseline-push');
    const [, localPush] = await timed(() => replicate(source, mirror, replOpts(opts)));
    const again = localDb('baseline-pull');
    const [, localPull] = await timed(() => replicate(mirror, again, replOpts(opts)));
    compareRevMaps(sourceRevs, await revMap(again), 'baseline copy');
    result.client_baseline_ms = { push: localPush, pull: localPull };
  }
  result.endpoints = remote.http.endpointSummary();
  return result;
}

/**
 * The remote's _changes through PouchDB's changes(): every document once,
 * whether PouchDB pages it itself or the caller pages with limit and
 * since=last_seq. last_seq must be the seq of the last row returned.
 */
async function checkChangesPaging(db, n) {
  const all = await db.changes();
  const ids = new Set(all.results.map((r) => r.id));
  check(ids.size === n,
    () => `PouchDB changes() on the remote returned ${all.results.length} rows for ${ids.size} documents, expected ${n}: ` +
      'it pages with limit=25 and resumes from each page\'s last_seq, which must be the seq of the page\'s last row');
  const limit = 60;
  const first = await db.changes({ limit });
  check(first.results.length === limit, () => `changes({limit: ${limit}}) returned ${first.results.length} rows`);
  const lastRowSeq = first.results[limit - 1].seq;
  check(JSON.stringify(first.last_seq) === JSON.stringify(lastRowSeq),
    () => `_changes?limit=${limit}: last_seq is ${JSON.stringify(first.last_seq)} but the last row's seq is ${JSON.stringify(lastRowSeq)}; ` +
      'a client resuming from last_seq would skip the changes in between');
  let since = 0;
  const paged = new Set();
  for (let pages = 0; pages < Math.ceil(n / 1000) + 2; pages++) {
    const page = await db.changes({ since, limit: 1000 });
    page.results.forEach((r) => paged.add(r.id));
    if (page.results.length < 1000) break;
    since = page.last_seq;
  }
  check(paged.size === n, () => `paging _changes by limit=1000 and since=last_seq reached ${paged.size} documents, expected ${n}`);
  return { changes_rows: all.results.length, last_seq: all.last_seq };
}

/**
 * conflict: A and B sync live with the remote; a document reaches both; both
 * go offline, edit it differently, come back; all three must agree on the
 * winning _rev and on _conflicts. Then A resolves the conflict, and all three
 * must agree again with no _conflicts left.
 */
async function scenarioConflict(opts) {
  const remote = await openRemote(opts, 'conflict');
  const a = localDb('A');
  const b = localDb('B');
  const dbs = { A: a, B: b, remote: remote.check };
  const LIMIT = 30_000;
  const events = { A: [], B: [] };

  const startSync = (name, db) => {
    const sync = db.sync(remote.db, {
      live: true,
      retry: true,
      back_off_function: (d) => (d ? Math.min(d * 2, 2000) : 200),
    });
    const log = (ev) => (x) => {
      events[name].push(ev === 'error' ? `error: ${errText(x)}` : ev);
      if (events[name].length > 200) events[name].shift();
    };
    for (const ev of ['active', 'paused', 'denied', 'error']) sync.on(ev, log(ev));
    sync.on('change', (c) => events[name].push(`change ${c.direction} ${c.change.docs.length}`));
    const done = new Promise((resolve) => sync.on('complete', resolve));
    return { sync, done };
  };
  const stopSync = async (s) => {
    s.sync.cancel();
    await bounded(s.done, LIMIT, 'stopping a live sync');
  };
  const state = async (db) => {
    try {
      const d = await db.get('shared', { conflicts: true });
      return { rev: d._rev, conflicts: (d._conflicts || []).slice().sort(), v: d.v };
    } catch (e) {
      if (e.status === 404) return null;
      throw e;
    }
  };
  const allStates = async () => {
    const out = {};
    for (const [k, db] of Object.entries(dbs)) out[k] = await state(db);
    return out;
  };

  const t = {};
  const t0 = performance.now();
  remote.http.phase = 'live sync';
  let sa = startSync('A', a);
  let sb = startSync('B', b);
  const first = await a.put({ _id: 'shared', v: 'original', by: 'A' });
  await until(async () => {
    const s = await allStates();
    return { done: s.A?.rev === first.rev && s.B?.rev === first.rev && s.remote?.rev === first.rev, s };
  }, LIMIT, 'the new document reaching B and the remote through live sync');
  t.first_doc_everywhere = ms(performance.now() - t0);

  // Offline: stop both syncs, then edit the same revision differently.
  await Promise.all([stopSync(sa), stopSync(sb)]);
  const docA = await a.get('shared');
  const docB = await b.get('shared');
  const ra = await a.put({ ...docA, v: 'edited on A', by: 'A' });
  const rb = await b.put({ ...docB, v: 'edited on B', by: 'B', extra: [1, 2, 3] });
  check(ra.rev !== rb.rev, 'the two offline edits got the same _rev');
  // CouchDB's rule: same generation, so the greater revision id wins.
  const winner = ra.rev > rb.rev ? ra.rev : rb.rev;
  const loser = ra.rev > rb.rev ? rb.rev : ra.rev;

  const t1 = performance.now();
  sa = startSync('A', a);
  sb = startSync('B', b);
  const converged = await until(async () => {
    const s = await allStates();
    const ok = Object.values(s).every((x) => x && x.rev === winner && x.conflicts.length === 1 && x.conflicts[0] === loser);
    return { done: ok, s };
  }, LIMIT, `A, B and the remote agreeing on winner ${winner} with _conflicts [${loser}]`);
  t.conflict_converged = ms(performance.now() - t1);

  // The remote keeps both leaves: open_revs=all returns both.
  const leaves = await remote.check.get('shared', { open_revs: 'all' });
  const leafRevs = leaves.filter((l) => l.ok).map((l) => l.ok._rev).sort();
  check(sameJson(leafRevs, [winner, loser].sort()), () => `remote open_revs=all gave ${JSON.stringify(leafRevs)}, expected both ${winner} and ${loser}`);
  const remoteWinner = await remote.check.get('shared');
  const winnerBody = winner === ra.rev ? 'edited on A' : 'edited on B';
  check(remoteWinner.v === winnerBody, () => `remote winning body is ${JSON.stringify(remoteWinner)}, expected v=${winnerBody}`);

  // A resolves the conflict by deleting the losing branch. The deleted leaf
  // has a higher generation but must not win over a live one.
  const t2 = performance.now();
  remote.http.phase = 'live sync';
  await a.remove('shared', loser);
  const resolved = await until(async () => {
    const s = await allStates();
    const ok = Object.values(s).every((x) => x && x.rev === winner && x.conflicts.length === 0);
    return { done: ok, s };
  }, LIMIT, `A, B and the remote agreeing on ${winner} with no _conflicts after A deleted ${loser}`);
  t.resolution_converged = ms(performance.now() - t2);

  await Promise.all([stopSync(sa), stopSync(sb)]);
  const count = await docCount(remote.http);
  check(count === 1, () => `remote doc_count is ${count}, expected 1`);
  return {
    remote: remote.url,
    edits: { A: ra.rev, B: rb.rev },
    winner,
    conflicts: [loser],
    states_in_conflict: converged.s,
    states_resolved: resolved.s,
    timings_ms: t,
    endpoints: remote.http.endpointSummary(),
  };
}

/** Reads one line from stdin; EOF counts as an empty line. */
function readLine() {
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin });
    let done = false;
    const finish = (line) => {
      if (done) return;
      done = true;
      rl.close();
      resolve(line);
    };
    rl.once('line', finish);
    rl.once('close', () => finish(''));
  });
}

/**
 * resume: pushes N documents with retry:true and is interrupted once at
 * least K are written and a checkpoint was saved. Then it holds every new
 * request, prints `PAUSE` on stdout and reads one line from stdin: the
 * controller restarts the server meanwhile. An empty line continues with the
 * same URL; `URL http://host:port` means the server now listens there (the
 * script rewrites the origin of all further requests); `CONNECT host:port`
 * keeps the URLs and their Host header but opens connections to that address
 * (another process serving the same instance). The held requests then
 * fail like a dropped connection, PouchDB backs off and starts again from its
 * checkpoint (read back from the remote's _local document). Checks that the
 * second phase neither re-read nor re-sent everything, and that all N
 * arrived with their revisions.
 */
async function scenarioResume(opts) {
  const n = opts.n ?? 2000;
  const k = opts.resumeAt ?? Math.floor(n / 2);
  check(k > 0 && k < n, () => `--resume-at must be between 1 and N-1 (N=${n}, K=${k})`);
  const remote = await openRemote(opts, 'resume');
  const http = remote.http;
  const source = localDb('resume-source');
  await createLocalDocs(source, n);
  const sourceRevs = await revMap(source);

  let phase = 1;
  let pausedAt = null;
  let releaseHeld;
  const held = new Promise((r) => { releaseHeld = r; });
  let paused = false;
  let holding = false;
  let heldCount = 0;
  let pauseLineAt = null;
  let controllerLine = null;
  const phase1 = {};

  const doPause = async () => {
    paused = true;
    // Wait for requests already in flight to finish: the server goes down
    // with nothing in flight.
    await until(async () => ({ done: http.active === 0 }), 30_000, 'requests in flight before PAUSE', 10);
    Object.assign(phase1, http.snapshot());
    pausedAt = http.c.bulkDocsWritten;
    pauseLineAt = performance.now();
    process.stdout.write('PAUSE\n');
    controllerLine = (await bounded(readLine(), opts.timeoutMs, 'waiting for the line on stdin after PAUSE')).trim();
    if (controllerLine) {
      const url = /^URL\s+(\S+)$/.exec(controllerLine);
      const connect = /^CONNECT\s+(\S+)$/.exec(controllerLine);
      check(url || connect, () => `unexpected line on stdin after PAUSE: ${JSON.stringify(controllerLine)} (want empty, "URL http://host:port" or "CONNECT host:port")`);
      if (url) {
        const to = new URL(url[1]).origin;
        const from = new URL(http.dbUrl).origin;
        if (to !== from) http.rewrite = [from, to];
      } else {
        const addr = parseHostPort(connect[1]);
        check(addr, () => `CONNECT wants HOST:PORT, not ${connect[1]}`);
        http.connectTo(addr);
      }
    }
    http.resetCounters();
    http.phase = 'push after the restart';
    phase = 2;
    releaseHeld();
  };

  http.afterResponse = (tmpl, method, status) => {
    if (phase === 1 && !holding && tmpl === '/{db}/_local/{id}' && method === 'PUT' && status < 300 && http.c.bulkDocsWritten >= k) {
      holding = true;
      doPause().catch((e) => fail(e));
    }
  };
  // Requests made while paused are held, then fail like connections the
  // restart dropped. If none came, the first one after the pause fails: the
  // replication is always interrupted, however fast the server came back.
  let interruptPending = true;
  const dropped = () => {
    heldCount++;
    interruptPending = false;
    const err = new Error('connection reset while the server restarted (simulated by the resume scenario)');
    err.code = 'ECONNRESET';
    return err;
  };
  http.gate = async () => {
    if (!holding) return;
    if (phase === 1) {
      await held;
      throw dropped();
    }
    if (interruptPending) throw dropped();
  };

  const events = [];
  const rep = PouchDB.replicate(source, remote.db, {
    ...replOpts(opts),
    retry: true,
    back_off_function: (d) => (d ? Math.min(d * 2, 2000) : 250),
  });
  rep.on('paused', (e) => events.push(e ? `paused: ${errText(e)}` : 'paused'));
  rep.on('active', () => events.push('active'));
  rep.on('error', (e) => events.push(`error: ${errText(e)}`));
  const t0 = performance.now();
  http.phase = 'push before the restart';
  const result = await bounded(new Promise((resolve, reject) => {
    rep.on('complete', resolve);
    rep.on('error', reject);
  }), opts.timeoutMs, 'the interrupted push');
  const totalMs = ms(performance.now() - t0);
  check(paused, () => `the push finished without reaching the pause point (K=${k}, written ${http.c.bulkDocsWritten}); lower --resume-at or raise N`);
  const phase2 = http.snapshot();
  const localReads = http.localReads;

  check(result.ok, () => `the resumed push did not complete: ${JSON.stringify(result)}`);
  check(localReads.some((r) => r.status === 200 && r.last_seq != null),
    () => `after the restart the checkpoint was not read back: GET _local/... answered ${JSON.stringify(localReads)}`);
  check(phase2.revsDiffIds < n,
    () => `the resumed push re-read all ${n} documents (_revs_diff asked about ${phase2.revsDiffIds}): the checkpoint was not used`);
  check(phase2.bulkDocsDocs < n,
    () => `the resumed push re-sent all documents (${phase2.bulkDocsDocs} in _bulk_docs)`);
  const resumedFrom = localReads.find((r) => r.status === 200 && r.last_seq != null)?.last_seq;
  if (typeof resumedFrom === 'number') {
    // The source is a fresh local database: its seq counts documents.
    check(phase2.revsDiffIds <= n - resumedFrom,
      () => `the resumed push asked _revs_diff about ${phase2.revsDiffIds} documents, but the checkpoint said ${resumedFrom} of ${n} were done`);
  }
  check(phase2.bulkDocsDocs >= n - pausedAt,
    () => `the resumed push sent only ${phase2.bulkDocsDocs} documents but ${n - pausedAt} were missing`);
  const count = await docCount(http);
  check(count === n, () => `remote doc_count is ${count} after the resumed push, expected ${n}`);
  const pulled = localDb('resume-check');
  await bounded(replicate(remote.check, pulled), opts.timeoutMs, 'pull to check the resumed push');
  compareRevMaps(sourceRevs, await revMap(pulled), 'documents pulled back after the resumed push');

  return {
    n,
    resume_at: k,
    remote: remote.url,
    controller_line: controllerLine,
    phase1: { docs_written: pausedAt, bulk_docs_docs: phase1.bulkDocsDocs, revs_diff_ids: phase1.revsDiffIds, requests: phase1.requests },
    phase2: {
      docs_written_by_replication: result.docs_written,
      docs_read_by_replication: result.docs_read,
      bulk_docs_docs: phase2.bulkDocsDocs,
      revs_diff_ids: phase2.revsDiffIds,
      requests: phase2.requests,
      request_errors: phase2.errors,
      held_requests_failed: heldCount,
      resumed_from_checkpoint_seq: resumedFrom,
      checkpoint_reads: localReads.length,
    },
    events,
    timings_ms: { total: totalMs, paused: pauseLineAt ? ms(performance.now() - pauseLineAt) : null },
    endpoints: http.endpointSummary(),
  };
}

/**
 * attachments: binary attachments of several sizes (0 bytes to ~1 MB), a
 * text one, names needing URL encoding, an attachment kept across revisions;
 * pushed, pulled into a fresh database, every byte, content_type and digest
 * compared, plus the remote's raw attachment GET.
 */
async function scenarioAttachments(opts) {
  const remote = await openRemote(opts, 'attachments');
  const source = localDb('att-source');
  const text = 'Bonjour, nuage ☁️ — texte accentué: éàü\nsecond line\n';
  const specs = [
    { doc: 'att-empty', name: 'empty.bin', type: 'application/octet-stream', data: Buffer.alloc(0) },
    { doc: 'att-one', name: 'one.bin', type: 'application/octet-stream', data: randomBytes(1) },
    { doc: 'att-sizes', name: 'a-1k.bin', type: 'application/octet-stream', data: randomBytes(1000) },
    { doc: 'att-sizes', name: 'b-64k.bin', type: 'application/octet-stream', data: randomBytes(65_543) },
    { doc: 'att-sizes', name: 'c-photo.jpg', type: 'image/jpeg', data: randomBytes(300_001) },
    { doc: 'att-big', name: 'big.bin', type: 'application/octet-stream', data: randomBytes(1_048_579) },
    { doc: 'att-text', name: 'note.txt', type: 'text/plain', data: Buffer.from(text, 'utf8') },
    { doc: 'att-names', name: 'dir/name with space é+%.txt', type: 'text/plain;charset=utf-8', data: Buffer.from('encoded name\n') },
  ];
  const byDoc = new Map();
  for (const s of specs) {
    if (!byDoc.has(s.doc)) byDoc.set(s.doc, { _id: s.doc, kind: 'attachment test', _attachments: {} });
    byDoc.get(s.doc)._attachments[s.name] = { content_type: s.type, data: s.data };
  }
  const res = await source.bulkDocs([...byDoc.values()]);
  check(res.every((r) => r.ok), () => `local bulkDocs with attachments failed: ${JSON.stringify(res)}`);
  // A document whose attachment is kept (as a stub) across a body edit, and a
  // second attachment added in a later revision.
  const keptData = randomBytes(5000);
  let r = await source.put({ _id: 'att-revs', step: 1, _attachments: { 'kept.bin': { content_type: 'application/octet-stream', data: keptData } } });
  let d = await source.get('att-revs');
  r = await source.put({ ...d, step: 2 });
  const laterData = randomBytes(777);
  r = await source.putAttachment('att-revs', 'later.bin', r.rev, laterData, 'application/x-later');
  specs.push({ doc: 'att-revs', name: 'kept.bin', type: 'application/octet-stream', data: keptData });
  specs.push({ doc: 'att-revs', name: 'later.bin', type: 'application/x-later', data: laterData });

  const t = {};
  remote.http.resetCounters();
  remote.http.phase = 'push';
  const [push, pushMs] = await timed(() => bounded(replicate(source, remote.db), opts.timeoutMs, 'push with attachments'));
  t.push = pushMs;
  check(push.ok && push.docs_written === byDoc.size + 1, () => `push wrote ${push.docs_written} documents, expected ${byDoc.size + 1}`);

  const target = localDb('att-pulled');
  remote.http.phase = 'pull';
  const [pull, pullMs] = await timed(() => bounded(replicate(remote.db, target), opts.timeoutMs, 'pull with attachments'));
  t.pull = pullMs;
  check(pull.ok, () => `pull did not complete: ${JSON.stringify(pull)}`);
  compareRevMaps(await revMap(source), await revMap(target), 'pulled attachment documents');

  const checked = [];
  for (const s of specs) {
    const want = md5Digest(s.data);
    const where = `${s.doc}/${s.name}`;
    const metas = {};
    for (const [label, db] of [['source', source], ['remote', remote.check], ['pulled', target]]) {
      const doc = await db.get(s.doc);
      const meta = doc._attachments && doc._attachments[s.name];
      check(meta, () => `${label} ${s.doc} has no attachment ${s.name}: ${JSON.stringify(doc._attachments)}`);
      check(meta.stub === true, () => `${label} ${where}: expected a stub in the document, got ${JSON.stringify(meta)}`);
      check(meta.content_type === s.type, () => `${label} ${where}: content_type ${meta.content_type}, expected ${s.type}`);
      check(meta.digest === want, () => `${label} ${where}: digest ${meta.digest}, expected ${want}`);
      check(meta.length === s.data.length, () => `${label} ${where}: length ${meta.length}, expected ${s.data.length}`);
      const bytes = await db.getAttachment(s.doc, s.name);
      check(Buffer.isBuffer(bytes) && bytes.equals(s.data), () => `${label} ${where}: bytes differ (${bytes && bytes.length} vs ${s.data.length})`);
      metas[label] = meta;
    }
    // revpos is reported, not checked: pouchdb-server (PouchDB 7) rewrites it
    // to the generation at which inline data arrives, CouchDB keeps it.
    // The raw HTTP GET of the attachment: same bytes, Content-Type.
    const encoded = s.name.split('/').map(encodeURIComponent).join('/');
    const raw = await remote.http.raw(`${encodeURIComponent(s.doc)}/${encoded}`);
    check(raw.status === 200, () => `GET ${where} answered ${raw.status}`);
    check(raw.buf.equals(s.data), () => `GET ${where}: bytes differ (${raw.buf.length} vs ${s.data.length})`);
    const ct = (raw.headers.get('content-type') || '').replace(/\s+/g, '').toLowerCase();
    check(ct === s.type.replace(/\s+/g, '').toLowerCase(), () => `GET ${where}: Content-Type ${raw.headers.get('content-type')}, expected ${s.type}`);
    checked.push({ doc: s.doc, name: s.name, bytes: s.data.length, content_type: s.type, digest: want, revpos: { source: metas.source.revpos, remote: metas.remote.revpos, pulled: metas.pulled.revpos } });
  }
  // The document fetched with attachments inline (base64) has the same data.
  const inline = await remote.check.get('att-sizes', { attachments: true });
  for (const s of specs.filter((x) => x.doc === 'att-sizes')) {
    const got = Buffer.from(inline._attachments[s.name].data, 'base64');
    check(got.equals(s.data), () => `GET att-sizes?attachments=true: ${s.name} differs`);
  }
  return {
    remote: remote.url,
    docs: byDoc.size + 1,
    attachments: checked,
    timings_ms: t,
    endpoints: remote.http.endpointSummary(),
  };
}

const RUNNERS = {
  'push-pull': scenarioPushPull,
  conflict: scenarioConflict,
  resume: scenarioResume,
  attachments: scenarioAttachments,
};

// ------------------------------------------------------------------ main

let output = null;
function emit(obj) {
  output = JSON.stringify(obj, null, opts?.pretty ? 2 : 0);
  process.stdout.write(output + '\n');
}

function recentProblems() {
  return ALL_HTTP.flatMap((h) => h.problems).slice(-8);
}

function fail(e) {
  const msg = e instanceof Failure ? e.message : `unexpected error: ${errText(e)}${e && e.stack ? '\n' + e.stack : ''}`;
  const problems = recentProblems();
  const shown = problems.length ? `\nlast failed or non-2xx requests (some 404s are normal):\n  ${problems.join('\n  ')}` : '';
  process.stderr.write(`FAIL ${opts?.scenario ?? ''}: ${msg}${shown}\n`);
  emit({ scenario: opts?.scenario, ok: false, error: e instanceof Failure ? e.message : errText(e), http_problems: problems });
  process.exit(1);
}

let opts;
async function main() {
  opts = parseArgs(process.argv.slice(2));
  opts.timeoutMs = opts.timeout * 1000;
  if (opts.trace) writeFileSync(opts.trace, '');
  const overall = setTimeout(() => fail(new Failure(`the run took over ${opts.timeout} s`)), opts.timeoutMs);
  overall.unref();
  const started = performance.now();
  if (opts.scenario === 'all') {
    const results = {};
    for (const name of SCENARIOS) {
      const t0 = performance.now();
      ALL_HTTP.length = 0; // failure reports show this scenario's requests only
      try {
        results[name] = { ok: true, ...(await RUNNERS[name]({ ...opts, n: name === 'push-pull' || name === 'resume' ? opts.n : null })), ms: ms(performance.now() - t0) };
      } catch (e) {
        const m = e instanceof Failure ? e.message : errText(e);
        const problems = recentProblems();
        process.stderr.write(`FAIL ${name}: ${m}${problems.length ? '\n  ' + problems.join('\n  ') : ''}\n`);
        results[name] = { ok: false, error: m, http_problems: problems };
      }
      process.stderr.write(`${results[name].ok ? 'ok  ' : 'FAIL'} ${name}\n`);
    }
    const failed = Object.entries(results).filter(([, r]) => !r.ok).map(([k]) => k);
    emit({ scenario: 'all', ok: failed.length === 0, failed, results, ms: ms(performance.now() - started) });
    process.exit(failed.length ? 1 : 0);
  }
  const result = await RUNNERS[opts.scenario](opts);
  emit({ scenario: opts.scenario, ok: true, ...result, ms: ms(performance.now() - started) });
  // Live syncs and keep-alive sockets may linger: the result is out, stop.
  process.exit(0);
}

process.on('unhandledRejection', (e) => fail(e));
main().catch(fail);
