import { chmod, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedDatabase } from '../../src/database/embedded-postgres';
import { freePort } from './net';

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
    return;
  }
  const dir = await mkdtemp(join(tmpdir(), 'nra-test-pg-'));
  await chmod(dir, 0o755); // the server runs as the `postgres` system user when tests run as root
  const db = new EmbeddedDatabase({ dir: join(dir, 'data'), port: await freePort(), database: 'postgres' });
  process.env.NRA_TEST_SERVER_URL = await db.start();
  globalThis.__NRA_EMBEDDED__ = { db, dir };
}
