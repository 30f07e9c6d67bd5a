import { chmod, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedDatabase } from '../../src/database/embedded-postgres';
import { freePort } from './net';
import { createTestDatabase } from './test-database';

declare global {
  var __NRA_EMBEDDED__: { db: EmbeddedDatabase; dir: string } | undefined;
}

/**
 * One PostgreSQL server for the whole run: TEST_DATABASE_URL when set (e.g. the machine's
 * PostgreSQL 15), otherwise an embedded PostgreSQL 18 in a temporary folder. Test files then create
 * their own databases on it (see `createTestDatabase`), so they never see each other's rows.
 */
export default async function globalSetup(): Promise<void> {
  if (process.env.TEST_DATABASE_URL) {
    process.env.NRA_TEST_SERVER_URL = process.env.TEST_DATABASE_URL;
    await provisionTestRole();
    return;
  }
  const dir = await mkdtemp(join(tmpdir(), 'nra-test-pg-'));
  await chmod(dir, 0o755); // the server runs as the `postgres` system user when tests run as root
  const db = new EmbeddedDatabase({ dir: join(dir, 'data'), port: await freePort(), database: 'postgres' });
  process.env.NRA_TEST_SERVER_URL = await db.start();
  globalThis.__NRA_EMBEDDED__ = { db, dir };
  await provisionTestRole();
}

/**
 * Creates the shared runtime role (TEST_APP_USER) once, before the test files run in parallel. Left
 * to the first test files, two of them could both find it missing: one creates it, marked for its
 * own database, and the other then refuses it as another database's role.
 */
async function provisionTestRole(): Promise<void> {
  const db = await createTestDatabase();
  await db.drop();
}
