import { ChildProcess, spawn } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { EmbeddedDatabaseOptions } from '../../src/database/embedded-postgres';
import { freePort } from './net';

/**
 * A PostgreSQL server that one test file owns and may stop and start again — never the shared test
 * server (global-setup.ts), which other files are using at the same time. It runs the same way in
 * both test modes (embedded by default, or TEST_DATABASE_URL).
 *
 * The server is an `EmbeddedDatabase` (src/database/embedded-postgres.ts) run in a child Node process:
 * the `embedded-postgres` package is ESM-only and loaded with a real dynamic import(), which Jest's
 * module sandbox refuses without --experimental-vm-modules. The child starts the server, reports the
 * owner URL, and stops it (and exits) when told to or when the test process goes away.
 */
const CHILD = `
const { EmbeddedDatabase } = require(process.env.NRA_EMBEDDED_MODULE);
const db = new EmbeddedDatabase(JSON.parse(process.env.NRA_EMBEDDED_OPTIONS));
let stopping;
const stop = () => (stopping ??= db.stop().catch((err) => console.error(err)).finally(() => process.exit(0)));
process.on('message', (m) => m === 'stop' && stop());
process.on('disconnect', stop);
db.start().then(
  (url) => process.send({ url }),
  (err) => { console.error(err); process.exit(1); },
);
`;

/** How long a child may take to stop PostgreSQL before it is killed. */
const STOP_KILL_AFTER_MS = 30_000;

export interface ServerProcess {
  ownerUrl: string;
  stop(): Promise<void>;
}

/** Runs an `EmbeddedDatabase` with `options` in a child process; rejects with its output if it does not start. */
export async function spawnServer(options: EmbeddedDatabaseOptions): Promise<ServerProcess> {
  const root = resolve(__dirname, '..', '..');
  const child: ChildProcess = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', CHILD], {
    cwd: root,
    env: {
      ...process.env,
      NRA_EMBEDDED_MODULE: join(root, 'src/database/embedded-postgres.ts'),
      NRA_EMBEDDED_OPTIONS: JSON.stringify(options),
    },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null && child.connected) child.send('stop');
    const killer = setTimeout(() => child.kill('SIGKILL'), STOP_KILL_AFTER_MS);
    await exited;
    clearTimeout(killer);
  };
  try {
    const ownerUrl = await new Promise<string>((done, fail) => {
      child.once('message', (m: { url?: string }) => (m.url ? done(m.url) : fail(new Error('no URL from the embedded server'))));
      child.once('exit', (code) => fail(new Error(`the embedded server process exited (${code}) before starting:\n${stderr}`)));
    });
    return { ownerUrl, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

export interface OwnPostgres {
  /** Temporary folder holding the data directory (and the owner password file beside it). */
  readonly dir: string;
  readonly port: number;
  /** Owner (superuser) URL of `database`; the same before and after a restart. */
  readonly ownerUrl: string;
  readonly running: boolean;
  /**
   * Stops PostgreSQL with a fast shutdown (SIGINT: open transactions are aborted, connections cut)
   * and waits until the server process has exited. No-op when already stopped.
   */
  stop(): Promise<void>;
  /** Starts it again on the same data directory and port; resolves once it accepts connections. */
  start(): Promise<void>;
  /** Stops the server (if running) and deletes its folder. Safe to call more than once, and after a failed start. */
  close(): Promise<void>;
}

/** Starts a fresh PostgreSQL server of the caller's own, with `database` created on it. */
export async function startOwnPostgres(options: { database: string; prefix?: string }): Promise<OwnPostgres> {
  const dir = await mkdtemp(join(tmpdir(), options.prefix ?? 'nra-own-pg-'));
  let server: ServerProcess | undefined;
  let closed = false;
  const close = async (): Promise<void> => {
    try {
      const s = server;
      server = undefined;
      await s?.stop();
    } finally {
      if (!closed) {
        closed = true;
        await rm(dir, { recursive: true, force: true });
      }
    }
  };
  try {
    await chmod(dir, 0o755); // the server runs as the `postgres` system user when tests run as root
    const port = await freePort();
    const serverOptions: EmbeddedDatabaseOptions = { dir: join(dir, 'data'), port, database: options.database };
    server = await spawnServer(serverOptions);
    const ownerUrl = server.ownerUrl;
    return {
      dir,
      port,
      ownerUrl,
      get running() {
        return server !== undefined;
      },
      stop: async () => {
        const s = server;
        server = undefined;
        await s?.stop();
      },
      start: async () => {
        if (closed) throw new Error('this PostgreSQL server has been closed');
        if (server) return;
        server = await spawnServer(serverOptions);
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
