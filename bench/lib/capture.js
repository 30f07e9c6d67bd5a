'use strict';
// Statement capture: log_statement = all on the bench's own (embedded) server while one request
// of each scenario is sent to the service and to the floor, so the report can show — and compare —
// exactly what each sends to PostgreSQL per request.
const { withClient } = require('./database');
const { sleep } = require('./util');

const RECORD_START = /\n(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ \S+ \[\d+\] app=)/;
const RECORD = /^(\S+ \S+ \S+) \[(\d+)\] app=(\S*) ([A-Z]+):  ([\s\S]*)$/;
const MARKER = /^statement: select 'nra-bench-marker:([^']+)'/;

/** Starts collecting the server log; returns { mark(name), stop() → segments }. */
async function startCapture(db) {
  if (db.kind !== 'embedded') return null;
  const chunks = [];
  const listener = (chunk) => chunks.push(chunk);
  db.logs.listeners.add(listener);
  await withClient(db.ownerUrl, async (c) => {
    await c.query("alter system set log_statement = 'all'");
    await c.query("alter system set log_line_prefix = '%m [%p] app=%a '");
    await c.query('select pg_reload_conf()');
  });
  await sleep(300);
  const marker = await (async () => {
    const { Client } = require('pg');
    const c = new Client({ connectionString: db.ownerUrl, application_name: 'nra-bench-marker' });
    await c.connect();
    return c;
  })();
  return {
    /** The statements logged so far, by marker (the capture goes on). */
    snapshot: () => segment(parse(chunks.join('\n'))),
    async mark(name) {
      await marker.query(`select 'nra-bench-marker:${name.replace(/[^A-Za-z0-9_ -]/g, '')}'`);
      await sleep(30);
    },
    async stop() {
      await sleep(300);
      await marker.end().catch(() => undefined);
      await withClient(db.ownerUrl, async (c) => {
        await c.query('alter system reset log_statement');
        await c.query('alter system reset log_line_prefix');
        await c.query('select pg_reload_conf()');
      });
      db.logs.listeners.delete(listener);
      return segment(parse(chunks.join('\n')));
    },
  };
}

/** Log records → [{ app, level, message }]. */
function parse(text) {
  const records = [];
  for (const raw of `\n${text}`.split(RECORD_START)) {
    const m = RECORD.exec(raw.trim());
    if (m) records.push({ pid: m[2], app: m[3], level: m[4], message: m[5].replace(/\n\t/g, '\n').trimEnd() });
  }
  return records;
}

/** Splits statements by marker: { name: [{ app, kind, text, params }] }. */
function segment(records) {
  const segments = {};
  let current = null;
  for (const r of records) {
    const marker = r.app === 'nra-bench-marker' && MARKER.exec(r.message);
    if (marker) {
      current = segments[marker[1]] = [];
      continue;
    }
    if (!current || (r.app !== 'nest-rls-auth' && r.app !== 'nra-bench-floor')) continue;
    if (r.level === 'LOG') {
      const simple = /^statement: ([\s\S]*)$/.exec(r.message);
      const extended = /^execute [^:]*: ([\s\S]*)$/.exec(r.message);
      if (simple) current.push({ app: r.app, pid: r.pid, kind: 'simple', text: simple[1] });
      else if (extended) current.push({ app: r.app, pid: r.pid, kind: 'extended', text: extended[1] });
    } else if (r.level === 'DETAIL' && current.length && /^Parameters: /.test(r.message)) {
      current[current.length - 1].params = r.message.replace(/^Parameters: /, '');
    }
  }
  return segments;
}

/** A bound value as the comparison sees it: the empty id, setting names and numbers are kept. */
function maskValue(v) {
  if (v === '') return "''";
  if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(v)) return '<uuid>';
  if (/^[a-z_.]+$/.test(v) || /^\d+$/.test(v)) return `'${v}'`;
  return '?';
}

/** A statement with its values masked, for comparing the service's sequence with the floor's. */
function shape(stmt) {
  const masked = stmt.text
    .replace(/'(?:[^']|'')*'/g, '?')
    .replace(/\s+/g, ' ')
    .trim();
  let params = '';
  if (stmt.params) {
    params = ` [${stmt.params
      .split(/, (?=\$\d+ = )/)
      .map((p) => p.replace(/^(\$\d+) = '(.*)'$/, (_, n, v) => `${n} = ${maskValue(v)}`))
      .join(', ')}]`;
  }
  return `${stmt.kind === 'extended' ? '(bind) ' : ''}${masked}${params}`;
}

/** Compares two captured sequences: { same, service: [...shapes], floor: [...shapes] }. */
function compare(serviceStmts, floorStmts) {
  const a = (serviceStmts || []).map(shape);
  const b = (floorStmts || []).map(shape);
  return { same: a.length > 0 && a.length === b.length && a.every((s, i) => s === b[i]), service: a, floor: b };
}

module.exports = { startCapture, parse, segment, shape, compare };
