import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { runMigrations } from '../../src/database/migrations';
import { ensureRuntimeRole, withCredentials } from '../../src/database/runtime-role';

export const TEST_APP_USER = 'nest_rls_app_test';
export const TEST_APP_PASSWORD = 'test-only-runtime-password-4f1c';

export interface TestDatabase {
  name: string;
  /** Owner (superuser on the test server): migrations, seeding, checking invariants. */
  ownerUrl: string;
  /** The RLS-bound runtime role, as the service connects. */
  runtimeUrl: string;
  /** Runs `fn` with a fresh connection as the owner. */
  asOwner<T>(fn: (client: Client) => Promise<T>): Promise<T>;
  /** One `sessions` row with every column, read as the owner (undefined when it does not exist). */
  sessionRow(id: string): Promise<Record<string, any> | undefined>;
  /** Runs `fn` with a fresh connection as the runtime role. */
  asRuntime<T>(fn: (client: Client) => Promise<T>): Promise<T>;
  drop(): Promise<void>;
}

export function serverUrl(): string {
  const url = process.env.NRA_TEST_SERVER_URL;
  if (!url) throw new Error('NRA_TEST_SERVER_URL is not set: run the tests through jest (globalSetup starts the database)');
  return url;
}

export function databaseUrl(name: string, base = serverUrl()): string {
  const url = new URL(base);
  url.pathname = `/${name}`;
  return url.toString();
}

function sessionRow(ownerUrl: string, id: string): Promise<Record<string, any> | undefined> {
  return withClient(ownerUrl, async (c) => (await c.query('select * from sessions where id = $1', [id])).rows[0]);
}

export async function withClient<T>(url: string, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/**
 * A new, empty database on the test server, migrated with the project's migrations unless
 * `migrate: false`, with the runtime role ready. Each test file gets its own.
 */
export async function createTestDatabase(options: { migrate?: boolean } = {}): Promise<TestDatabase> {
  const name = `nra_t_${randomBytes(6).toString('hex')}`;
  await withClient(databaseUrl('postgres'), (c) => c.query(`create database ${c.escapeIdentifier(name)}`));
  const ownerUrl = databaseUrl(name);
  const runtimeUrl = withCredentials(ownerUrl, TEST_APP_USER, TEST_APP_PASSWORD);
  if (options.migrate !== false) {
    await runMigrations(ownerUrl, 'up');
    await ensureRuntimeRole(ownerUrl, runtimeUrl, TEST_APP_USER, TEST_APP_PASSWORD);
  }
  return {
    name,
    ownerUrl,
    runtimeUrl,
    asOwner: (fn) => withClient(ownerUrl, fn),
    sessionRow: (id) => sessionRow(ownerUrl, id),
    asRuntime: (fn) => withClient(runtimeUrl, fn),
    drop: () => withClient(databaseUrl('postgres'), (c) => c.query(`drop database if exists ${c.escapeIdentifier(name)} with (force)`)).then(() => undefined),
  };
}

/**
 * A `TestDatabase` for a database that already exists at `ownerUrl` — e.g. on a PostgreSQL server a
 * test starts and stops itself — migrated, with the runtime role ready, unless `migrate: false`.
 * `drop()` drops it through the same server's `postgres` database.
 */
export async function testDatabaseAt(ownerUrl: string, options: { migrate?: boolean } = {}): Promise<TestDatabase> {
  const name = decodeURIComponent(new URL(ownerUrl).pathname.slice(1));
  const runtimeUrl = withCredentials(ownerUrl, TEST_APP_USER, TEST_APP_PASSWORD);
  if (options.migrate !== false) {
    await runMigrations(ownerUrl, 'up');
    await ensureRuntimeRole(ownerUrl, runtimeUrl, TEST_APP_USER, TEST_APP_PASSWORD);
  }
  const maintenanceUrl = databaseUrl('postgres', ownerUrl);
  return {
    name,
    ownerUrl,
    runtimeUrl,
    asOwner: (fn) => withClient(ownerUrl, fn),
    sessionRow: (id) => sessionRow(ownerUrl, id),
    asRuntime: (fn) => withClient(runtimeUrl, fn),
    drop: () => withClient(maintenanceUrl, (c) => c.query(`drop database if exists ${c.escapeIdentifier(name)} with (force)`)).then(() => undefined),
  };
}
