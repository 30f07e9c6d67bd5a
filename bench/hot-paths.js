'use strict';
// The SQL the service sends on its hot paths, statement for statement, as PostgreSQL logs it
// (log_statement = all; see "Statements per request" in RESULTS.md, captured on every run).
//
// A statement reaches PostgreSQL in one of two forms: with its values inlined into the text by
// MikroORM on the client (simple query protocol), or with bound parameters ($1, $2...: extended
// protocol) — hand-written SQL sent through Kysely (src/database/sql.ts). Which one the service uses has changed
// between versions, so each run takes the form of every statement from its capture
// (formsFromCapture) and the floor sends the same form; without a capture the defaults below apply.
const { escapeLiteral } = require('pg');

const RLS_SETTING = 'app.current_user_id';
const lit = (v) => (v === null || v === undefined ? 'NULL' : escapeLiteral(v instanceof Date ? v.toISOString() : String(v)));

/**
 * Templates: `p(i)` stands for the i-th value. Rendered inline (literals) or bound ($n in order of
 * appearance). `form` is the default when no capture says otherwise.
 */
const TEMPLATES = {
  /** src/sessions/sessions.repository.ts isActive — the per-request session check (S1, S4). [sessionId, now] */
  isActive: {
    form: 'bind',
    sql: (p) => `select 1 from sessions s join users u on u.id = s.user_id
        where s.id = ${p(0)} and s.is_revoked = false and s.expires_at > ${p(1)} and u.is_active`,
  },
  /** SessionsRepository.listActive (S1): hand-written, plain rows. [now] */
  listActive: {
    form: 'bind',
    sql: (p) => `select id, device_name, device_type, user_agent, ip_address, created_at, last_used_at, expires_at from sessions
        where is_revoked = false and expires_at > ${p(0)} order by last_used_at desc, id asc`,
  },
  /** SessionsRepository.lockForRefresh (S2). [sessionId] */
  lockForRefresh: {
    form: 'bind',
    sql: (p) => `select s.id, s.user_id, s.refresh_token_hash, s.user_agent, s.is_revoked, s.created_at, s.last_used_at, s.expires_at,
              u.is_active as user_active
         from sessions s join users u on u.id = s.user_id
        where s.id = ${p(0)} for update of s`,
  },
  /** SessionsRepository.rotate (S2). [hash, lastUsedAt, expiresAt, userAgent, sessionId] */
  rotate: {
    form: 'bind',
    sql: (p) => `update sessions set refresh_token_hash = ${p(0)}, last_used_at = ${p(1)}, expires_at = ${p(2)}, user_agent = coalesce(${p(3)}, user_agent) where id = ${p(4)}`,
  },
  /**
   * The second UPDATE the service sends on every refresh: the unit of work's flush at commit,
   * because SessionsService.rotate also assigns the new values to the managed entity. [same as rotate]
   */
  rotateFlush: {
    form: 'inline',
    sql: (p) => `update "sessions" set "refresh_token_hash" = ${p(0)}, "expires_at" = ${p(2)}, "last_used_at" = ${p(1)} where "id" = ${p(4)}`,
  },
  /** UsersRepository.findProfile (S4). [userId] */
  findUser: {
    form: 'bind',
    sql: (p) => `select id, email, display_name, created_at from users where id = ${p(0)}`,
  },
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
const CAPTURED_IN = { isActive: 'S1', listActive: 'S1', lockForRefresh: 'S2', rotate: 'S2', rotateFlush: 'S2', findUser: 'S4' };

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
  rotateFlush: (sessionId, hash, lastUsedAt, expiresAt) => render('rotateFlush', [hash, lastUsedAt, expiresAt, null, sessionId], 'inline').text,
  findUser: (userId) => render('findUser', [userId], 'inline').text,
  /** UsersRepository.findForLogin (S3) and the SECURITY DEFINER function's own query. */
  findForLogin: (email) => `select id, password_hash, is_active from auth_find_login(${lit(email)})`,
  findForLoginInner: (email) => `SELECT u.id, u.password_hash, u.is_active
  FROM public.users u
  WHERE lower(u.email) = lower(btrim(${lit(email)}))`,
  /** SessionsRepository.insertSession (S3). */
  insertSession: (s) =>
    `insert into "sessions" ("created_at", "device_name", "device_type", "expires_at", "id", "ip_address", "is_revoked", "last_used_at", "refresh_token_hash", "user_agent", "user_id") values (${lit(s.createdAt)}, NULL, 'unknown', ${lit(s.expiresAt)}, ${lit(s.id)}, '127.0.0.1', false, ${lit(s.createdAt)}, ${lit(s.hash)}, 'node', ${lit(s.userId)}) returning "device_type", "is_revoked", "created_at", "last_used_at"`,
  /** SessionsRepository.findActive (S3, after the insert). */
  findActive: (sessionId, now) =>
    `select "s0".* from "sessions" as "s0" where "s0"."id" = ${lit(sessionId)} and "s0"."is_revoked" = false and "s0"."expires_at" > ${lit(now)} limit 1`,
  /** SessionsRepository.purgeBatch, and the DELETE inside purge_ended_sessions (migration 000004). */
  purgeBatch: (retentionSeconds, limit) => `select purge_ended_sessions(make_interval(secs => ${Number(retentionSeconds)}), ${Number(limit)}) as removed`,
};

module.exports = { SQL, RLS_SETTING, lit, render, TEMPLATES, formsFromCapture, setConfigFromCapture };
