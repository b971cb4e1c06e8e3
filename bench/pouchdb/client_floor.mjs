#!/usr/bin/env node
// The PouchDB client's floor: a stub CouchDB that does as little as a
// server possibly can, so that a replication against it costs only the
// client (and Node's HTTP on both ends). No real server can be faster, so
// a server's time above this floor is its own cost.
//
// It keeps what it is sent in memory as the strings it will send back:
// `_revs_diff` says everything is missing, `_bulk_docs` files each
// document's JSON (with its `_revisions`) under its id and answers `[]`
// (new_edits=false), `_changes` and `_bulk_get` are string concatenations
// of what was filed, checkpoints (`_local`) are kept so the replicator finds
// its own. No conflicts, no attachments, no deletions, one revision per
// document: enough for replication.mjs's push-pull, nothing more.
//
//   node bench/pouchdb/client_floor.mjs
//       prints the port it listens on (127.0.0.1), then serves until its
//       standard input closes; replication.mjs starts it as the "floor"
//       target, one fresh process per run.

import http from 'node:http';

const dbs = new Map();

function db(name) {
  let d = dbs.get(name);
  if (!d) {
    // ids in order of arrival; id → JSON text of the document as pushed
    // (with _revisions) and its rev; checkpoints.
    d = { ids: [], docs: new Map(), local: new Map() };
    dbs.set(name, d);
  }
  return d;
}

function reply(res, status, text) {
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

const json = (res, status, obj) => reply(res, status, JSON.stringify(obj));

function handle(req, res, body) {
  const url = new URL(req.url, 'http://floor');
  const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts.length === 0) return json(res, 200, { couchdb: 'Welcome', uuid: 'floor', version: '3.3.3' });
  const d = db(parts[0]);
  const [, what, ...rest] = parts;
  if (what === undefined) {
    if (req.method === 'PUT') return json(res, 201, { ok: true });
    if (req.method === 'DELETE') { dbs.delete(parts[0]); return json(res, 200, { ok: true }); }
    return json(res, 200, { db_name: parts[0], doc_count: d.ids.length, update_seq: d.ids.length, instance_start_time: '0' });
  }
  if (what === '_revs_diff') {
    const asked = JSON.parse(body || '{}');
    const out = {};
    for (const [id, revs] of Object.entries(asked)) if (!d.docs.has(id)) out[id] = { missing: revs };
    return json(res, 200, out);
  }
  if (what === '_bulk_docs') {
    const { docs = [] } = JSON.parse(body || '{}');
    for (const doc of docs) {
      if (!d.docs.has(doc._id)) d.ids.push(doc._id);
      d.docs.set(doc._id, { text: JSON.stringify(doc), rev: doc._rev });
    }
    return reply(res, 201, '[]');
  }
  if (what === '_local') {
    const id = `_local/${rest.join('/')}`;
    if (req.method === 'GET') {
      const doc = d.local.get(id);
      return doc ? json(res, 200, doc) : json(res, 404, { error: 'not_found', reason: 'missing' });
    }
    const doc = JSON.parse(body || '{}');
    const rev = `0-${(Number(String(doc._rev || '0-0').split('-')[1]) || 0) + 1}`;
    d.local.set(id, { ...doc, _id: id, _rev: rev });
    return json(res, 201, { ok: true, id, rev });
  }
  if (what === '_changes') {
    const since = Number(url.searchParams.get('since')) || 0;
    const limit = Number(url.searchParams.get('limit')) || d.ids.length;
    const end = Math.min(d.ids.length, since + limit);
    const rows = [];
    for (let i = since; i < end; i++) {
      const id = d.ids[i];
      rows.push(`{"seq":${i + 1},"id":${JSON.stringify(id)},"changes":[{"rev":"${d.docs.get(id).rev}"}]}`);
    }
    return reply(res, 200, `{"results":[${rows.join(',')}],"last_seq":${end},"pending":${d.ids.length - end}}`);
  }
  if (what === '_bulk_get') {
    const { docs = [] } = JSON.parse(body || '{}');
    const out = docs.map(({ id }) => {
      const doc = d.docs.get(id);
      return doc
        ? `{"id":${JSON.stringify(id)},"docs":[{"ok":${doc.text}}]}`
        : `{"id":${JSON.stringify(id)},"docs":[{"error":{"id":${JSON.stringify(id)},"error":"not_found","reason":"missing"}}]}`;
    });
    return reply(res, 200, `{"results":[${out.join(',')}]}`);
  }
  if (what === '_ensure_full_commit') return json(res, 201, { ok: true, instance_start_time: '0' });
  if (what === '_all_docs') {
    const rows = d.ids.map((id) => ({ id, key: id, value: { rev: d.docs.get(id).rev } }));
    return json(res, 200, { total_rows: rows.length, offset: 0, rows });
  }
  // GET /db/id: the scenario's checks (not timed); without _revisions
  // unless asked, as CouchDB answers.
  const doc = d.docs.get(parts.slice(1).join('/'));
  if (!doc) return json(res, 404, { error: 'not_found', reason: 'missing' });
  if (url.searchParams.get('revs') === 'true') return reply(res, 200, doc.text);
  const { _revisions, ...plain } = JSON.parse(doc.text);
  return json(res, 200, plain);
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    try {
      handle(req, res, Buffer.concat(chunks).toString('utf8'));
    } catch (e) {
      json(res, 500, { error: 'floor', reason: String(e && e.message) });
    }
  });
});
server.keepAliveTimeout = 60_000;
await new Promise((r) => server.listen(0, '127.0.0.1', r));
process.stdout.write(`${server.address().port}\n`);
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
