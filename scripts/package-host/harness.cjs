'use strict';
/**
 * The database and HTTP side of `scripts/check-package.sh`, copied into the scratch host project
 * (examples/host-app with the packed package installed) and run from there:
 *
 *   node harness.cjs check      checks that the server answers, as a superuser
 *   node harness.cjs create     creates the scratch database (empty: the example's migration script
 *                               sets it up); prints its owner URL and the runtime role's URL, one a line
 *   node harness.cjs verify     checks what the migration script did: the package's migrations and the
 *                               app's applied, the runtime role a plain role that logs in, `notes`
 *                               under forced Row Level Security
 *   node harness.cjs drive      drives the running example app over HTTP: sign-in through the module,
 *                               its guarded route, notes kept apart by RLS, a policy violation (403),
 *                               the error shapes, logout (401 at once)
 *   node harness.cjs teardown   drops the scratch database and the runtime role, but only what
 *                               `create` marked as its own: roles are cluster-wide
 *
 * Environment: NRA_SERVER_URL (a superuser URL of the PostgreSQL server), NRA_DB, NRA_ROLE,
 * NRA_ROLE_PASSWORD, NRA_STATE_DIR (marker files); for `drive`, NRA_PORT.
 * `pg` comes from this repository's node_modules (NRA_REPO_ROOT): it is only the harness's tool.
 */
const { existsSync, rmSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');
const { randomBytes } = require('node:crypto');

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const { Client } = require(require.resolve('pg', { paths: [env('NRA_REPO_ROOT')] }));

/** `base` pointing at another database, and optionally as another user. */
function urlFor(base, database, credentials) {
  const url = new URL(base);
  url.pathname = `/${encodeURIComponent(database)}`;
  if (credentials) {
    url.username = encodeURIComponent(credentials.user);
    url.password = encodeURIComponent(credentials.password);
  }
  return url.toString();
}

/** Where a URL points, for messages: never the password. */
function describe(url) {
  const u = new URL(url);
  return `${decodeURIComponent(u.username) || '(default user)'}@${u.hostname}:${u.port || '5432'}${u.pathname}`;
}

async function withClient(url, fn) {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

const marker = (what) => join(env('NRA_STATE_DIR'), `created-${what}`);

/** The server answers, as a superuser (the package's migrations create roles). */
async function check() {
  const maintenance = urlFor(env('NRA_SERVER_URL'), 'postgres');
  let row;
  try {
    row = await withClient(maintenance, async (c) => {
      const { rows } = await c.query('select rolsuper, current_setting($1) as version from pg_catalog.pg_roles where rolname = current_user', ['server_version']);
      return rows[0];
    });
  } catch (err) {
    throw new Error(
      `cannot reach PostgreSQL at ${describe(maintenance)}: ${err.message}. ` +
        'Start a PostgreSQL server there, or set TEST_DATABASE_URL to a superuser URL of one (e.g. postgres://postgres@127.0.0.1:5432/).',
    );
  }
  if (row?.rolsuper !== true) throw new Error(`${describe(maintenance)} is not a superuser: the package's migrations create roles; set TEST_DATABASE_URL to a superuser URL`);
  console.log(`PostgreSQL ${row.version} at ${describe(maintenance)}, superuser`);
}

/** The scratch database, empty; the runtime role's name must be free (the migration script creates it). */
async function create() {
  const server = env('NRA_SERVER_URL');
  const db = env('NRA_DB');
  const role = env('NRA_ROLE');
  await withClient(urlFor(server, 'postgres'), async (c) => {
    const taken = await c.query('select 1 from pg_catalog.pg_roles where rolname = $1', [role]);
    if (taken.rowCount) throw new Error(`role ${role} already exists (name collision): not touching it`);
    await c.query(`create database ${c.escapeIdentifier(db)}`);
    writeFileSync(marker('db'), db);
  });
  // Marked before the migration script runs: it creates the role, and may fail after that.
  writeFileSync(marker('role'), role);
  process.stdout.write(`${urlFor(server, db)}\n${urlFor(server, db, { user: role, password: env('NRA_ROLE_PASSWORD') })}\n`);
}

/** What the example's migration script must have done. */
async function verify() {
  const server = env('NRA_SERVER_URL');
  const db = env('NRA_DB');
  const role = env('NRA_ROLE');
  const { MIGRATIONS_DIR } = require('nest-rls-auth');
  const shipped = require('node:fs').readdirSync(MIGRATIONS_DIR).filter((f) => f.endsWith('.up.sql')).map((f) => f.replace(/\.up\.sql$/, '')).sort();
  const problems = [];
  await withClient(urlFor(server, db), async (c) => {
    const applied = (await c.query('select name from mikro_orm_migrations order by name')).rows.map((r) => r.name);
    if (JSON.stringify(applied) !== JSON.stringify(shipped)) problems.push(`the package's migrations applied are ${JSON.stringify(applied)}, not ${JSON.stringify(shipped)}`);
    const own = (await c.query('select name from host_app_migrations order by name')).rows.map((r) => r.name);
    if (JSON.stringify(own) !== JSON.stringify(['0001_create_notes'])) problems.push(`the app's migrations applied are ${JSON.stringify(own)}`);
    const { rows } = await c.query(
      `select c.relrowsecurity, c.relforcerowsecurity, pg_catalog.pg_get_userbyid(c.relowner) as owner,
              (select count(*)::int from pg_catalog.pg_policy p where p.polrelid = c.oid) as policies,
              pg_catalog.has_table_privilege($1, c.oid, 'SELECT, INSERT') as runtime_can_use
         from pg_catalog.pg_class c where c.oid = pg_catalog.to_regclass('notes')`,
      [role],
    );
    const notes = rows[0];
    if (!notes) problems.push('no notes table');
    else if (!notes.relrowsecurity || !notes.relforcerowsecurity || notes.policies < 1 || !notes.runtime_can_use || notes.owner === role) {
      problems.push(`notes is not under forced RLS for the runtime role: ${JSON.stringify(notes)}`);
    }
  });
  await withClient(urlFor(server, db, { user: role, password: env('NRA_ROLE_PASSWORD') }), async (c) => {
    const { rows } = await c.query('select current_user as me, r.rolsuper, r.rolbypassrls from pg_catalog.pg_roles r where r.rolname = current_user');
    if (rows[0]?.me !== role || rows[0].rolsuper || rows[0].rolbypassrls) problems.push(`the runtime URL logs in as ${JSON.stringify(rows[0])}, not the plain role ${role}`);
  });
  if (problems.length) throw new Error(problems.join('; '));
  console.log(`database ${db}: the package's migrations (${shipped.length}) and the app's notes migration applied; notes under forced RLS; runtime role ${role}`);
}

async function teardown() {
  const maintenance = urlFor(env('NRA_SERVER_URL'), 'postgres');
  const problems = [];
  await withClient(maintenance, async (c) => {
    if (existsSync(marker('db'))) {
      try {
        await c.query(`drop database if exists ${c.escapeIdentifier(env('NRA_DB'))} with (force)`);
        rmSync(marker('db'));
      } catch (err) {
        problems.push(`database ${env('NRA_DB')}: ${err.message}`);
      }
    }
    if (existsSync(marker('role'))) {
      try {
        await c.query(`drop role if exists ${c.escapeIdentifier(env('NRA_ROLE'))}`);
        rmSync(marker('role'));
      } catch (err) {
        problems.push(`role ${env('NRA_ROLE')}: ${err.message}`);
      }
    }
  });
  if (problems.length) throw new Error(`could not drop ${problems.join('; ')}`);
}

async function drive() {
  const base = `http://127.0.0.1:${env('NRA_PORT')}`;
  const call = async (method, path, { token, body, raw } = {}) => {
    const headers = {};
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined || raw !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(base + path, { method, headers, body: raw ?? (body === undefined ? undefined : JSON.stringify(body)), signal: AbortSignal.timeout(15_000) });
    const text = await res.text();
    let json;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: res.status, text, json };
  };
  const expect = (what, res, status, body) => {
    if (res.status !== status) throw new Error(`${what}: expected ${status}, got ${res.status} ${res.text.slice(0, 500)}`);
    if (body !== undefined && JSON.stringify(res.json) !== JSON.stringify(body)) throw new Error(`${what}: expected ${JSON.stringify(body)}, got ${res.text.slice(0, 500)}`);
    console.log(`  ${what}: ${res.status}`);
    return res.json;
  };
  const UNAUTHORIZED = { statusCode: 401, message: 'Unauthorized', error: 'Unauthorized' };
  const FORBIDDEN = { statusCode: 403, message: 'Forbidden', error: 'Forbidden' };

  const signUp = async (name) => {
    const email = `${name}-${randomBytes(6).toString('hex')}@example.com`;
    const password = randomBytes(18).toString('base64url');
    const user = expect(`POST /auth/register (${name})`, await call('POST', '/auth/register', { body: { email, password } }), 201);
    const tokens = expect(`POST /auth/login (${name})`, await call('POST', '/auth/login', { body: { email, password } }), 200);
    if (typeof user?.id !== 'string' || typeof tokens?.accessToken !== 'string') throw new Error(`no user id or access token for ${name}`);
    return { userId: user.id, token: tokens.accessToken, sessionId: tokens.sessionId };
  };
  const ada = await signUp('ada');
  const bob = await signUp('bob');

  // The module's guard on the app's own routes.
  expect('GET /profile (ada)', await call('GET', '/profile', { token: ada.token }), 200, { userId: ada.userId, sessionId: ada.sessionId });
  expect('GET /profile/ping without a token (@Public)', await call('GET', '/profile/ping'), 200, { pong: true });
  expect('GET /sessions without a token (the module’s route)', await call('GET', '/sessions'), 401, UNAUTHORIZED);
  expect('GET /profile without a token (same body)', await call('GET', '/profile'), 401, UNAUTHORIZED);
  expect('GET /profile with a forged token', await call('GET', '/profile', { token: `${ada.token.slice(0, -4)}AAAA` }), 401, UNAUTHORIZED);

  // The app's notes table: each user sees only their own rows; the policy refuses a write for another.
  const adaNote = expect('POST /notes (ada)', await call('POST', '/notes', { token: ada.token, body: { text: 'ada’s note' } }), 201);
  const bobNote = expect('POST /notes (bob)', await call('POST', '/notes', { token: bob.token, body: { text: 'bob’s note' } }), 201);
  const ids = (notes) => (Array.isArray(notes) ? notes.map((n) => n.id) : notes);
  const adaSees = ids(expect('GET /notes (ada)', await call('GET', '/notes', { token: ada.token }), 200));
  const bobSees = ids(expect('GET /notes (bob)', await call('GET', '/notes', { token: bob.token }), 200));
  if (JSON.stringify(adaSees) !== JSON.stringify([adaNote.id]) || JSON.stringify(bobSees) !== JSON.stringify([bobNote.id])) {
    throw new Error(`notes not kept apart: ada sees ${JSON.stringify(adaSees)} (hers: ${adaNote.id}), bob sees ${JSON.stringify(bobSees)} (his: ${bobNote.id})`);
  }
  expect('GET /notes/count (ada, em.execute)', await call('GET', '/notes/count', { token: ada.token }), 200, { count: 1 });
  expect('POST /notes for bob (ada): the policy refuses it', await call('POST', '/notes', { token: ada.token, body: { text: 'for bob', forUserId: bob.userId } }), 403, FORBIDDEN);
  const bobAfter = ids(expect('GET /notes (bob) after that', await call('GET', '/notes', { token: bob.token }), 200));
  if (JSON.stringify(bobAfter) !== JSON.stringify([bobNote.id])) throw new Error(`bob's notes changed: ${JSON.stringify(bobAfter)}`);
  const badJson = expect('POST /notes with malformed JSON', await call('POST', '/notes', { token: ada.token, raw: '{"text": hunter2-secret}' }), 400, {
    statusCode: 400,
    message: 'Malformed JSON body',
    error: 'Bad Request',
  });
  if (JSON.stringify(badJson).includes('hunter2')) throw new Error('the 400 quotes the body');

  // Logout revokes at once: the next request with the same (unexpired) access token is refused.
  expect('POST /auth/logout (ada)', await call('POST', '/auth/logout', { token: ada.token }), 204);
  expect('GET /profile (ada) after logout', await call('GET', '/profile', { token: ada.token }), 401, UNAUTHORIZED);
  expect('GET /notes (ada) after logout', await call('GET', '/notes', { token: ada.token }), 401, UNAUTHORIZED);
  expect('GET /profile (bob) still', await call('GET', '/profile', { token: bob.token }), 200);
}

const commands = { check, create, verify, teardown, drive };
const command = commands[process.argv[2]];
if (!command) {
  console.error(`usage: node harness.cjs ${Object.keys(commands).join('|')}`);
  process.exit(2);
}
command().then(
  () => process.exit(0),
  (err) => {
    console.error(`harness ${process.argv[2]}: ${err instanceof Error ? err.message : err}`);
    process.exit(1);
  },
);
