/**
 * `npm run migrate`: sets up the database as its owner (DATABASE_URL), before the app starts —
 *   1. nest-rls-auth's migrations (users, sessions, their policies, the roles nest_rls_runtime and
 *      nest_rls_definer);
 *   2. the runtime login role of DATABASE_APP_URL (created with that password when missing, made a
 *      member of nest_rls_runtime, checked to be subject to RLS);
 *   3. this app's own migrations (the notes table), tracked in a table of their own.
 * Each step skips what is already done, so it can run on every deploy.
 */
import { existsSync } from 'node:fs';
import { MikroORM } from '@mikro-orm/core';
import { Migrator } from '@mikro-orm/migrations';
import { PostgreSqlDriver } from '@mikro-orm/postgresql';
import { ensureRuntimeRole, runMigrations } from 'nest-rls-auth';
import { CreateNotesMigration } from './migrations/create-notes.migration';

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (see .env.example)`);
  return value;
}

async function migrate(): Promise<void> {
  if (existsSync('.env')) process.loadEnvFile('.env');
  const ownerUrl = required('DATABASE_URL');
  const appUrl = required('DATABASE_APP_URL');

  const auth = await runMigrations(ownerUrl, 'up');
  console.log(`nest-rls-auth migrations: ${auth.ran.length ? `applied ${auth.ran.join(', ')}` : 'up to date'}`);

  const { username, password } = new URL(appUrl);
  await ensureRuntimeRole(ownerUrl, appUrl, decodeURIComponent(username), decodeURIComponent(password));
  console.log(`runtime role ${decodeURIComponent(username)}: ready`);

  const orm = await MikroORM.init({
    driver: PostgreSqlDriver,
    clientUrl: ownerUrl,
    entities: [],
    discovery: { warnWhenNoEntities: false },
    extensions: [Migrator],
    migrations: {
      tableName: 'host_app_migrations',
      transactional: true,
      allOrNothing: true,
      snapshot: false,
      silent: true,
      migrationsList: [{ name: '0001_create_notes', class: CreateNotesMigration }],
    },
  });
  try {
    const ran = (await orm.migrator.up()).map((m) => m.name);
    console.log(`app migrations: ${ran.length ? `applied ${ran.join(', ')}` : 'up to date'}`);
  } finally {
    await orm.close(true);
  }
}

migrate().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
