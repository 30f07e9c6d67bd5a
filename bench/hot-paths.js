'use strict';
// The SQL the service sends on its hot paths, statement for statement, as PostgreSQL logs it
// (log_statement = all; see "Statements per request" in RESULTS.md, captured on every run).
//
// A statement reaches PostgreSQL in one of two forms: with its values inlined into the text by
// MikroORM on the client (simple query protocol), or with bound parameters ($1, $2...: extended
// protocol) — hand-written SQL sent through Kysely (src/database/sql.ts). Which one the service uses has changed
// between versions, so each run takes the form of every statement from its capture
// (formsFromCapture) and the floor sends the same form; without a capture the defaults below apply.
const { join } = require('node:path');
const { escapeLiteral } = require('pg');
const { HOT_PATH_SQL } = require(join(__dirname, '..', 'dist', 'database', 'hot-path-sql.js'));

const RLS_SETTING = 'app.current_user_id';
const lit = (v) => (v === null || v === undefined ? 'NULL' : escapeLiteral(v instanceof Date ? v.toISOString() : String(v)));

/**
 * Templates: the service's own statements (src/database/hot-path-sql.ts, loaded from the build), where
 * `p(i)` stands for the i-th value. Rendered inline (literals) or bound ($n in order of appearance).
 * `form` is the default when no capture says otherwise.
 */
const TEMPLATES = {
  isActive: { form: 'bind', sql: HOT_PATH_SQL.isActive },
  listActive: { form: 'bind', sql: HOT_PATH_SQL.listActive },
  lockForRefresh: { form: 'bind', sql: HOT_PATH_SQL.lockForRefresh },
  rotate: { form: 'bind', sql: HOT_PATH_SQL.rotate },
  findUser: { form: 'bind', sql: HOT_PATH_SQL.findProfile },
};

/** Renders a template: { text, values } (values undefined for the inline form). */
function render(key, values, form = TEMPLATES[key].form, text) {
  if (form === 'inline') return { text: TEMPLATES[key].sql((i) => lit(values[i])) };
  const bound = [];
  const rendered = TEMPLATES[key].sql((i) => {
    bound.push(values[i]);
    return `$${bound.length}`;
  });
  return { text: text ?? rendered, values: bound };
}

const squash = (sql) => sql.replace(/'(?:[^']|'')*'/g, '?').replace(/\s+/g, ' ').trim();

/** Where each statement is captured: scenario segment. */
const CAPTURED_IN = { isActive: 'S1', listActive: 'S1', lockForRefresh: 'S2', rotate: 'S2', findUser: 'S4' };

/**
 * The form the service used for each statement in this run's capture: { key: { form, text } }
 * (for the bound form, the exact captured text, so the floor sends it byte for byte). A statement
 * found in neither form keeps its default (and the statement comparison in the report shows it).
 */
function formsFromCapture(segments) {
  const forms = {};
  for (const [key, seg] of Object.entries(CAPTURED_IN)) {
    const dummy = [0, 1, 2, 3].map((i) => `v${i}`);
    const inline = squash(render(key, dummy, 'inline').text);
    const bound = squash(render(key, dummy, 'bind').text);
    for (const s of (segments && segments[seg]) || []) {
      if (s.kind === 'simple' && squash(s.text) === inline) forms[key] = { form: 'inline' };
      else if (s.kind === 'extended' && squash(s.text) === bound) forms[key] = { form: 'bind', text: s.text };
      if (forms[key]) break;
    }
  }
  return forms;
}

/**
 * The service's set_config statement as captured: { text, extra } where `extra` are the bound
 * values after $1 (the setting) and $2 (the user id), e.g. a transaction-local statement_timeout.
 */
function setConfigFromCapture(statements) {
  const stmt = (statements || []).find((s) => s.kind === 'extended' && /^select set_config\(\$1, \$2, true\)/.test(s.text));
  if (!stmt) return null;
  const values = [...String(stmt.params || '').matchAll(/\$(\d+) = '((?:[^']|'')*)'/g)]
    .sort((a, b) => Number(a[1]) - Number(b[1]))
    .map((m) => m[2].replace(/''/g, "'"));
  return { text: stmt.text, extra: values.slice(2) };
}

/** Inline texts (for EXPLAIN, which plans the values either way) and the statements without a template. */
const SQL = {
  // As Kysely (MikroORM 7) sends them.
  begin: 'begin',
  commit: 'commit',
  rollback: 'rollback',
  /** src/database/rls.context.ts setCurrentUser: [RLS_SETTING, userId or '', ...] (a run uses the captured form). */
  setConfig: 'select set_config($1, $2, true)',
  isActive: (sessionId, now) => render('isActive', [sessionId, now], 'inline').text,
  listActive: (now) => render('listActive', [now], 'inline').text,
  lockForRefresh: (sessionId) => render('lockForRefresh', [sessionId], 'inline').text,
  rotate: (sessionId, hash, lastUsedAt, expiresAt) => render('rotate', [hash, lastUsedAt, expiresAt, null, sessionId], 'inline').text,
  findUser: (userId) => render('findUser', [userId], 'inline').text,
  /** UsersRepository.findForLogin (S3) and the SECURITY DEFINER function's own query. */
  findForLogin: (email) => HOT_PATH_SQL.findForLogin(() => lit(email)),
  findForLoginInner: (email) => `SELECT u.id, u.password_hash, u.is_active
  FROM public.users u
  WHERE u.email = ${lit(email)}`,
  /** SessionsRepository.insertSession (S3). */
  insertSession: (s) =>
    `insert into "sessions" ("created_at", "device_name", "device_type", "expires_at", "id", "ip_address", "is_revoked", "last_used_at", "refresh_token_hash", "user_agent", "user_id") values (${lit(s.createdAt)}, NULL, 'unknown', ${lit(s.expiresAt)}, ${lit(s.id)}, '127.0.0.1', false, ${lit(s.createdAt)}, ${lit(s.hash)}, 'node', ${lit(s.userId)}) returning "device_type", "is_revoked", "created_at", "last_used_at"`,
  /** SessionsRepository.purgeBatch, and the DELETE inside purge_ended_sessions (migration 000004). */
  purgeBatch: (retentionSeconds, limit) => `select purge_ended_sessions(make_interval(secs => ${Number(retentionSeconds)}), ${Number(limit)}) as removed`,
};

module.exports = { SQL, RLS_SETTING, lit, render, TEMPLATES, formsFromCapture, setConfigFromCapture };
