#!/usr/bin/env node
// The PouchDB client's floor for a push: the same push of N documents as
// replication.mjs, to a stub server that answers every request at once
// with the smallest valid reply (everything is missing, every write is
// accepted) and stores nothing. No real server can be faster than this, so
// it bounds the end-to-end speed-up any server can show against
// pouchdb-server with this client.
//
//   node bench/pouchdb/client_floor.mjs [N]
import http from 'node:http';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, '..', '..', 'conformance', 'pouchdb', 'package.json'));
const PouchDB = require('pouchdb');
PouchDB.plugin(require('pouchdb-adapter-memory'));

const n = Number(process.argv[2] === '--stub' ? 0 : process.argv[2] || 10000);
let requests = 0;
const local_docs = new Map();
const counts = new Map();
const server = http.createServer((req, res) => {
  let body = '';
  req.on('data', (c) => { body += c; });
  req.on('end', () => {
    requests++;
    const k = req.method + " " + req.url.replace(/\/db\/[^?]*/, (m) => m.split("/").slice(0, 3).join("/")).split("?")[0];
    counts.set(k, (counts.get(k) || 0) + 1);
    const url = new URL(req.url, 'http://x');
    const reply = (status, obj) => {
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(obj));
    };
    const p = url.pathname;
    if (p.endsWith('/_revs_diff')) {
      const asked = JSON.parse(body || '{}');
      const out = {};
      for (const [id, revs] of Object.entries(asked)) out[id] = { missing: revs };
      return reply(200, out);
    }
    if (p.endsWith('/_bulk_docs')) return reply(201, []);
    if (p.includes('/_local/')) {
      // Checkpoints are kept, so the replicator finds its own.
      const id = decodeURIComponent(p.slice(p.indexOf('/_local/') + 1));
      if (req.method === 'GET') {
        return local_docs.has(id) ? reply(200, local_docs.get(id)) : reply(404, { error: 'not_found', reason: 'missing' });
      }
      const doc = JSON.parse(body || '{}');
      const rev = `0-${(Number(String(doc._rev || '0-0').split('-')[1]) || 0) + 1}`;
      local_docs.set(id, { ...doc, _id: id, _rev: rev });
      return reply(201, { ok: true, id, rev });
    }
    if (p === '/') return reply(200, { couchdb: 'Welcome', uuid: 'stub' });
    return reply(200, { db_name: 'db', update_seq: 0, doc_count: 0 });
  });
});
// The stub runs in a process of its own, as a real server would: in the
// client's process it would compete with the client for its event loop.
if (process.argv[2] === '--stub') {
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  process.stdout.write(`${server.address().port}\n`);
  process.stdin.resume();
  process.stdin.on('end', () => {
    if (process.env.FLOOR_DEBUG) console.error([...counts.entries()]);
    process.stderr.write(`requests ${requests}\n`);
    process.exit(0);
  });
} else {
  await client();
}

async function client() {
const stub = spawn(process.execPath, [fileURLToPath(import.meta.url), '--stub'], { stdio: ['pipe', 'pipe', 'inherit'] });
const port = await new Promise((resolve) => stub.stdout.once('data', (d) => resolve(Number(String(d).trim()))));

const local = new PouchDB('floor-local', { adapter: 'memory' });
const docs = [];
for (let i = 0; i < n; i++) {
  docs.push({ _id: `doc-${String(i).padStart(6, '0')}`, type: 'note', title: `Note ${i}`, body: 'lorem ipsum dolor sit amet '.repeat(4), n: i, tags: ['a', 'b'], done: i % 2 === 0, at: 1700000000000 + i });
}
await local.bulkDocs(docs);
const started = process.hrtime.bigint();
await PouchDB.replicate(local, new PouchDB(`http://127.0.0.1:${port}/db`));
const ms = Number(process.hrtime.bigint() - started) / 1e6;
console.log(JSON.stringify({ docs: n, push_ms: Math.round(ms) }));
stub.stdin.end();
}
