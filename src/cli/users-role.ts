import 'reflect-metadata';
import { ConfigError, loadConfig } from '../config/load-config';
import { EmbeddedDatabase } from '../database/embedded-postgres';
import { setUserRole } from '../users/user-roles';

const COMMANDS = { 'grant-admin': 'admin', 'revoke-admin': 'user' } as const;
type Command = keyof typeof COMMANDS;

/**
 * `npm run users:grant-admin -- <email>` | `npm run users:revoke-admin -- <email>` — over the owner
 * connection (DATABASE_URL, or the embedded PostgreSQL, started for the command and stopped after),
 * like `npm run migrate`. A revoked admin's next /admin request is refused (403): the database reads
 * the role on every request.
 */
async function main(): Promise<number> {
  const [command, email] = process.argv.slice(2);
  if (!(command in COMMANDS) || !email) {
    console.error('Usage: npm run users:grant-admin -- <email>   |   npm run users:revoke-admin -- <email>');
    return 2;
  }
  const config = loadConfig();
  let embedded: EmbeddedDatabase | undefined;
  let url = config.database.url;
  if (!url) {
    embedded = new EmbeddedDatabase(config.database.embedded);
    url = await embedded.start();
  }
  try {
    const change = await setUserRole(url, email, COMMANDS[command as Command]);
    if (!change) {
      console.error(`No account with the email ${JSON.stringify(email)}`);
      return 1;
    }
    const what = change.previousRole === change.role ? `already ${change.role}` : `${change.previousRole} -> ${change.role}`;
    console.log(`${change.email} (${change.userId}): ${what}`);
    return 0;
  } finally {
    await embedded?.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof ConfigError ? err.message : `Failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
