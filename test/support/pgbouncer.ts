import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { freePort } from './net';

/** Debian's PgBouncer, or the one on PATH (PGBOUNCER_PATH overrides). Undefined when not installed. */
export function findPgBouncer(): string | undefined {
  if (process.env.PGBOUNCER_PATH) return existsSync(process.env.PGBOUNCER_PATH) ? process.env.PGBOUNCER_PATH : undefined;
  if (existsSync('/usr/sbin/pgbouncer')) return '/usr/sbin/pgbouncer';
  try {
    return execFileSync('sh', ['-c', 'command -v pgbouncer'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

export interface PgBouncerOptions {
  binary: string;
  /** Where the databases live: host and port are taken from this URL. */
  serverUrl: string;
  /** The database to pool (clients connect to the same name). */
  database: string;
  /** Login roles clients may connect as, with their passwords (also used towards the server). */
  users: Record<string, string>;
  /** Server connections per (database, user) pair. */
  poolSize: number;
  poolMode?: 'session' | 'transaction' | 'statement';
}

export interface PgBouncer {
  port: number;
  /** A client URL through the pooler for one of `options.users`. */
  url(user: string): string;
  /** Runs `fn` on the admin console (`SHOW POOLS`, `SHOW STATS`, ...; simple queries only). */
  admin<T>(fn: (client: Client) => Promise<T>): Promise<T>;
  /** PgBouncer's log so far. */
  log(): Promise<string>;
  stop(): Promise<void>;
}

/** PgBouncer refuses to run as root: when we are root it runs as the `postgres` system user. */
function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  return { uid, gid };
}

const quote = (s: string): string => `"${s.replace(/"/g, '""')}"`;

async function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Starts a private PgBouncer on a free loopback port (foreground, its own config, auth file, log and
 * pid file in a temporary folder), in front of `options.database` on the server of `serverUrl`.
 * Waits until it accepts connections. `stop()` kills it and removes the folder.
 */
export async function startPgBouncer(options: PgBouncerOptions): Promise<PgBouncer> {
  const server = new URL(options.serverUrl);
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'nra-pgbouncer-'));
  const adminUser = 'nra_pgbouncer_admin';
  const adminPassword = randomBytes(12).toString('hex');
  const users: Record<string, string> = { ...options.users, [adminUser]: adminPassword };
  const ini = join(dir, 'pgbouncer.ini');
  const logfile = join(dir, 'pgbouncer.log');
  await writeFile(
    join(dir, 'userlist.txt'),
    Object.entries(users)
      .map(([user, password]) => `${quote(user)} ${quote(password)}\n`)
      .join(''),
  );
  await writeFile(
    ini,
    [
      '[databases]',
      `${options.database} = host=${server.hostname} port=${server.port || '5432'} dbname=${options.database} pool_size=${options.poolSize}`,
      '',
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      // The password is stored in plain text in the auth file; clients prove it with SCRAM, and
      // PgBouncer can answer the server's SCRAM (embedded PostgreSQL) or trust (local PostgreSQL 15).
      'auth_type = scram-sha-256',
      `auth_file = ${join(dir, 'userlist.txt')}`,
      `pool_mode = ${options.poolMode ?? 'transaction'}`,
      `default_pool_size = ${options.poolSize}`,
      'min_pool_size = 0',
      'reserve_pool_size = 0',
      'max_client_conn = 200',
      `admin_users = ${adminUser}`,
      `stats_users = ${adminUser}`,
      `logfile = ${logfile}`,
      `pidfile = ${join(dir, 'pgbouncer.pid')}`,
      'log_connections = 0',
      'log_disconnections = 0',
      '',
    ].join('\n'),
  );
  const owner = runAs();
  if (owner) {
    for (const path of [dir, ini, join(dir, 'userlist.txt')]) await chown(path, owner.uid, owner.gid);
  }
  await chmod(join(dir, 'userlist.txt'), 0o600);

  const child: ChildProcess = spawn(options.binary, ['-q', ini], {
    stdio: ['ignore', 'ignore', 'pipe'],
    ...(owner ?? {}),
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      resolve();
    }),
  );
  const log = (): Promise<string> => readFile(logfile, 'utf8').catch(() => '');
  const stop = async (): Promise<void> => {
    if (!exited && child.pid) {
      child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const killed = await Promise.race([exit.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), 5000)))]);
      clearTimeout(timer);
      if (!killed) {
        child.kill('SIGKILL');
        await exit;
      }
    }
    await rm(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + 10_000;
  while (!(await portOpen(port))) {
    if (exited || Date.now() > deadline) {
      const why = exited ? `exited (${exited.code ?? exited.signal})` : 'did not listen within 10 s';
      const text = `${stderr}${await log()}`;
      await stop();
      throw new Error(`PgBouncer ${why} on port ${port}:\n${text}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }

  const url = (user: string): string => {
    const u = new URL(`postgres://127.0.0.1:${port}/${options.database}`);
    u.username = encodeURIComponent(user);
    u.password = encodeURIComponent(users[user]);
    return u.toString();
  };
  return {
    port,
    url,
    admin: async (fn) => {
      const client = new Client({ connectionString: `postgres://${adminUser}:${adminPassword}@127.0.0.1:${port}/pgbouncer` });
      await client.connect();
      try {
        return await fn(client);
      } finally {
        await client.end();
      }
    },
    log,
    stop,
  };
}
