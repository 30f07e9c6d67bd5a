import 'reflect-metadata';
import { ConfigError, loadConfig } from '../config/load-config';
import { EmbeddedDatabase } from '../database/embedded-postgres';
import { MigrationCommand, runMigrations } from '../database/migrations';

/**
 * `npm run migrate` | `migrate:down` | `migrate:status` — against DATABASE_URL, or the embedded
 * PostgreSQL (started for the command and stopped after) when it is not set.
 * `migrate:down` reverts the last migration; `-- --all` reverts every one.
 */
async function main(): Promise<void> {
  const command = (process.argv[2] ?? 'status') as MigrationCommand;
  if (!['up', 'down', 'status'].includes(command)) throw new Error(`Unknown command "${command}" (use up, down or status)`);
  const config = loadConfig();
  let embedded: EmbeddedDatabase | undefined;
  let url = config.database.url;
  if (!url) {
    embedded = new EmbeddedDatabase(config.database.embedded);
    url = await embedded.start();
  }
  try {
    const result = await runMigrations(url, command, { all: process.argv.includes('--all') });
    if (command !== 'status') console.log(result.ran.length ? `${command}: ${result.ran.join(', ')}` : `${command}: nothing to do`);
    console.log(`executed: ${result.executed.join(', ') || '(none)'}`);
    console.log(`pending:  ${result.pending.join(', ') || '(none)'}`);
  } finally {
    await embedded?.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof ConfigError ? err.message : `Migration failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
