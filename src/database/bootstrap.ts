import { Client } from 'pg';
import type { ServiceConfig } from '../config/service-config';
import { EmbeddedDatabase, EmbeddedDatabaseOptions } from './embedded-postgres';
import { runMigrations } from './migrations';
import { describeUrl, ensureRuntimeRole, withCredentials } from './runtime-role';

export interface PreparedDatabase {
  /** Owner connection: migrations, role bootstrap. Never used on a request path. */
  ownerUrl: string;
  /** Runtime connection, as the RLS-bound login role. */
  runtimeUrl: string;
  /** Human-readable, password-free description of where the data lives. */
  description: string;
  embedded?: EmbeddedDatabase;
  /** Stops the embedded server, if one was started. */
  close(): Promise<void>;
}

/**
 * Gets a database ready for the service: starts the embedded PostgreSQL when no DATABASE_URL is set,
 * applies migrations as the owner (under an advisory lock, so instances starting together take
 * turns), and makes sure the runtime login role exists and is safe. Pass `stopOnSignal: false` when
 * the caller shuts down gracefully on SIGINT/SIGTERM and then calls `close()` (see EmbeddedDatabaseOptions).
 */
export async function prepareDatabase(
  config: ServiceConfig,
  log: (message: string) => void = () => undefined,
  options: Pick<EmbeddedDatabaseOptions, 'stopOnSignal'> = {},
): Promise<PreparedDatabase> {
  const db = config.database;
  let embedded: EmbeddedDatabase | undefined;
  let ownerUrl = db.url;
  if (!ownerUrl) {
    embedded = new EmbeddedDatabase({ ...db.embedded, stopOnSignal: options.stopOnSignal });
    log(`Starting embedded PostgreSQL (data in ${embedded.dir}, port ${db.embedded.port})`);
    ownerUrl = await embedded.start();
  }
  try {
    if (db.migrateOnStart) {
      const { ran } = await withMigrationLock(ownerUrl, () => runMigrations(ownerUrl!, 'up'));
      if (ran.length) log(`Applied migrations: ${ran.join(', ')}`);
    }
    const runtimeUrl = db.appUrl ?? withCredentials(ownerUrl, db.appUser, db.appPassword);
    await ensureRuntimeRole(ownerUrl, runtimeUrl, db.appUser, db.appPassword);
    const description = embedded
      ? `embedded PostgreSQL, data in ${embedded.dir} (${describeUrl(runtimeUrl)})`
      : describeUrl(runtimeUrl);
    return {
      ownerUrl,
      runtimeUrl,
      description,
      embedded,
      close: async () => {
        await embedded?.stop();
      },
    };
  } catch (err) {
    await embedded?.stop();
    throw err;
  }
}

async function withMigrationLock<T>(ownerUrl: string, fn: () => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: ownerUrl });
  await client.connect();
  try {
    await client.query("select pg_advisory_lock(hashtext('nest-rls-auth:migrations'))");
    return await fn();
  } finally {
    await client.end();
  }
}
