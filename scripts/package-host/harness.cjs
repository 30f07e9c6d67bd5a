'use strict';
/**
 * The database and HTTP side of `scripts/check-package.sh`, copied into the scratch consumer
 * project and run from there, so `nest-rls-auth` is the packed, installed package:
 *
 *   node harness.cjs check      checks that the server answers, as a superuser
 *   node harness.cjs setup      creates the scratch database, applies the package's migrations and
 *                               its runtime role (`runMigrations`, `ensureRuntimeRole`); prints the
 *                               runtime role's URL
 *   node harness.cjs drive      drives the running host app over HTTP (register, login, the host's
 *                               guarded route with and without a token, logout)
 *   node harness.cjs teardown   drops the scratch database and the runtime role, but only what
 *                               `setup` created (its marker files say so): roles are cluster-wide
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

async function setup() {
  const server = env('NRA_SERVER_URL');
  const db = env('NRA_DB');
  const role = env('NRA_ROLE');
  const password = env('NRA_ROLE_PASSWORD');
  const maintenance = urlFor(server, 'postgres');
  await withClient(maintenance, async (c) => {
    const taken = await c.query('select 1 from pg_catalog.pg_roles where rolname = $1', [role]);
    if (taken.rowCount) throw new Error(`role ${role} already exists (name collision): not touching it`);
    await c.query(`create database ${c.escapeIdentifier(db)}`);
    writeFileSync(marker('db'), db);
  });

  const { runMigrations, ensureRuntimeRole } = require('nest-rls-auth');
  const ownerUrl = urlFor(server, db);
  const migrated = await runMigrations(ownerUrl, 'up');
  if (!migrated.ran.length || migrated.pending.length) throw new Error(`runMigrations(up) ran ${JSON.stringify(migrated.ran)} and left ${JSON.stringify(migrated.pending)} pending`);
  const runtimeUrl = urlFor(server, db, { user: role, password });
  writeFileSync(marker('role'), role); // before: ensureRuntimeRole creates it, and may fail after that
  await ensureRuntimeRole(ownerUrl, runtimeUrl, role, password);

  // The runtime role logs in as itself and is no superuser (ensureRuntimeRole checks more).
  await withClient(runtimeUrl, async (c) => {
    const { rows } = await c.query('select current_user as me, r.rolsuper from pg_catalog.pg_roles r where r.rolname = current_user');
    if (rows[0]?.me !== role || rows[0].rolsuper) throw new Error(`the runtime URL logs in as ${JSON.stringify(rows[0])}, not the plain role ${role}`);
  });
  console.error(`database ${db}: migrations ${migrated.ran.join(', ')}; runtime role ${role}`);
  process.stdout.write(runtimeUrl);
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
  const call = async (method, path, { token, body } = {}) => {
    const headers = {};
    if (token) headers.authorization = `Bearer ${token}`;
    if (body) headers['content-type'] = 'application/json';
    const res = await fetch(base + path, { method, headers, body: body ? JSON.stringify(body) : undefined, signal: AbortSignal.timeout(15_000) });
    const text = await res.text();
    let json;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: res.status, text, json };
  };
  const expect = (what, res, status) => {
    if (res.status !== status) throw new Error(`${what}: expected ${status}, got ${res.status} ${res.text.slice(0, 500)}`);
    console.log(`  ${what}: ${res.status}`);
  };

  const email = `host-${randomBytes(6).toString('hex')}@example.com`;
  const password = randomBytes(18).toString('base64url');
  const registered = await call('POST', '/auth/register', { body: { email, password } });
  expect('POST /auth/register', registered, 201);
  const userId = registered.json?.id;
  if (typeof userId !== 'string' || !userId) throw new Error(`register returned no user id: ${registered.text}`);

  const login = await call('POST', '/auth/login', { body: { email, password } });
  expect('POST /auth/login', login, 200);
  const token = login.json?.accessToken;
  if (typeof token !== 'string' || !token) throw new Error(`login returned no access token: ${login.text}`);

  const me = await call('GET', '/host/whoami', { token });
  expect('GET /host/whoami with the bearer token', me, 200);
  if (me.json?.userId !== userId) throw new Error(`the guarded route returned ${JSON.stringify(me.text)}, not the caller ${userId}`);
  if (me.json?.sessionId !== login.json.sessionId) throw new Error(`the guarded route returned session ${me.json?.sessionId}, not ${login.json.sessionId}`);

  expect('GET /host/whoami without a token', await call('GET', '/host/whoami'), 401);
  expect('GET /host/whoami with a forged token', await call('GET', '/host/whoami', { token: `${token.slice(0, -4)}AAAA` }), 401);
  expect('POST /auth/logout', await call('POST', '/auth/logout', { token }), 204);
  expect('GET /host/whoami after logout', await call('GET', '/host/whoami', { token }), 401);
}

const commands = { check, setup, teardown, drive };
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
