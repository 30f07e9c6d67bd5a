import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { MikroORM } from '@mikro-orm/core';
import { Migration, Migrator } from '@mikro-orm/migrations';
import { PostgreSqlDriver } from '@mikro-orm/postgresql';

/** The SQL migrations ship beside `src`/`dist` as `migrations/NNNNNN_name.{up,down}.sql`. */
export const MIGRATIONS_DIR = resolve(__dirname, '..', '..', 'migrations');
export const MIGRATIONS_TABLE = 'mikro_orm_migrations';

interface SqlMigrationFile {
  name: string;
  up: string;
  down: string;
}

export function listSqlMigrations(dir = MIGRATIONS_DIR): SqlMigrationFile[] {
  const names = readdirSync(dir)
    .map((f) => /^(\d{6}_[a-z0-9_]+)\.up\.sql$/.exec(f)?.[1])
    .filter((n): n is string => n !== undefined)
    .sort();
  return names.map((name) => {
    const down = join(dir, `${name}.down.sql`);
    if (!existsSync(down)) throw new Error(`Migration ${name} has no ${name}.down.sql`);
    return { name, up: join(dir, `${name}.up.sql`), down };
  });
}

/** A thin MikroORM migration that runs one SQL file. The migrator wraps each run in a transaction. */
function sqlMigrationClass(file: SqlMigrationFile): new (...args: ConstructorParameters<typeof Migration>) => Migration {
  return class extends Migration {
    override async up(): Promise<void> {
      this.addSql(readFileSync(file.up, 'utf8'));
    }
    override async down(): Promise<void> {
      this.addSql(readFileSync(file.down, 'utf8'));
    }
  };
}

export type MigrationCommand = 'up' | 'down' | 'status';

export interface MigrationStatus {
  executed: string[];
  pending: string[];
}

/**
 * Runs the project's SQL migrations with MikroORM's migrator, connected as the schema owner.
 * `down` reverts the last applied migration, or all of them with `{ all: true }`.
 */
export async function runMigrations(
  ownerUrl: string,
  command: MigrationCommand,
  options: { all?: boolean; to?: string } = {},
): Promise<MigrationStatus & { ran: string[] }> {
  const orm = await MikroORM.init({
    driver: PostgreSqlDriver,
    clientUrl: ownerUrl,
    entities: [],
    discovery: { warnWhenNoEntities: false },
    extensions: [Migrator],
    debug: false,
    pool: { min: 0, max: 1 },
    migrations: {
      tableName: MIGRATIONS_TABLE,
      transactional: true,
      allOrNothing: true,
      snapshot: false,
      silent: true,
      migrationsList: listSqlMigrations().map((file) => ({ name: file.name, class: sqlMigrationClass(file) })),
    },
  });
  try {
    const migrator = orm.migrator;
    let ran: string[] = [];
    if (command === 'up') {
      ran = (await migrator.up(options.to ? { to: options.to } : undefined)).map((m) => m.name);
    } else if (command === 'down') {
      ran = (await migrator.down(options.all ? { to: 0 } : options.to ? { to: options.to } : undefined)).map((m) => m.name);
    }
    const executed = (await migrator.getExecuted()).map((m) => m.name);
    const pending = (await migrator.getPending()).map((m) => m.name);
    return { ran, executed, pending };
  } finally {
    await orm.close(true);
  }
}
