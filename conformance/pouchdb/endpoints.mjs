#!/usr/bin/env node
// Merges the `endpoints` sections of scenarios.mjs results into one Markdown
// table: which HTTP endpoints PouchDB called, in which scenario and phase,
// with which query parameters, bodies and answers.
//
//   node endpoints.mjs RESULT.json... > endpoints.md
//
// A result file may hold other lines before the JSON (e.g. `PAUSE`): the last
// line is read.

import { readFileSync } from 'node:fs';

const files = process.argv.slice(2);
if (!files.length) {
  process.stderr.write('usage: node endpoints.mjs RESULT.json...\n');
  process.exit(2);
}

const merged = new Map();
const add = (set, v) => { if (!set.includes(v)) set.push(v); };
for (const file of files) {
  const lines = readFileSync(file, 'utf8').trim().split('\n');
  const r = JSON.parse(lines[lines.length - 1]);
  const sections = r.scenario === 'all'
    ? Object.entries(r.results).map(([k, v]) => [k, v.endpoints || {}])
    : [[r.scenario, r.endpoints || {}]];
  for (const [scenario, byPhase] of sections) {
    for (const [phase, endpoints] of Object.entries(byPhase)) {
      const own = phase.includes('not replication');
      for (const [endpoint, e] of Object.entries(endpoints)) {
        // The scenarios' own checks are listed apart from what replication did.
        const key = own ? `${endpoint} [scenario's own checks]` : endpoint;
        let m = merged.get(key);
        if (!m) {
          m = { count: 0, where: [], checksOnly: own, params: {}, body: {}, statuses: {}, headers: {}, docFields: [], attFields: [], resTypes: [] };
          merged.set(key, m);
        }
        m.count += e.count;
        add(m.where, own ? scenario : `${scenario}: ${phase}`);
        for (const [p, vals] of Object.entries(e.params || {})) {
          m.params[p] ||= [];
          for (const v of vals) add(m.params[p], v);
        }
        for (const [p, vals] of Object.entries(e.body || {})) {
          m.body[p] ||= [];
          for (const v of vals) add(m.body[p], v);
        }
        for (const [s, c] of Object.entries(e.statuses || {})) m.statuses[s] = (m.statuses[s] || 0) + c;
        for (const [h, vals] of Object.entries(e.req_headers || {})) {
          m.headers[h] ||= [];
          for (const v of vals) add(m.headers[h], v);
        }
        for (const f of e.doc_fields || []) add(m.docFields, f);
        for (const f of e.attachment_fields || []) add(m.attFields, f);
        for (const ct of Object.keys(e.res_content_types || {})) add(m.resTypes, ct);
      }
    }
  }
}

const esc = (s) => String(s).replace(/\|/g, '\\|');
const cell = (obj) => Object.entries(obj).map(([k, v]) => `${k}=${v.join(' / ')}`).join('<br>') || '—';
const rows = [...merged.entries()].sort(([a, x], [b, y]) => (x.checksOnly - y.checksOnly) || a.localeCompare(b));
const out = [
  '| endpoint | requests | called during | query parameters | request body | statuses seen |',
  '|---|---|---|---|---|---|',
];
for (const [key, m] of rows) {
  let body = cell(m.body);
  if (m.docFields.length) body += `<br>docs[] fields: ${m.docFields.join(', ')}`;
  if (m.attFields.length) body += `<br>_attachments entries: {${m.attFields.join('} / {')}}`;
  const statuses = Object.entries(m.statuses).map(([s, c]) => `${s} ×${c}`).join(', ');
  out.push(`| \`${esc(key)}\` | ${m.count} | ${esc(m.where.join('; '))} | ${esc(cell(m.params))} | ${esc(body)} | ${esc(statuses)} |`);
}
process.stdout.write(out.join('\n') + '\n');
