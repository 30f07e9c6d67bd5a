import { createHash } from 'node:crypto';
import { Client } from 'pg';
import type { Response, Test } from 'supertest';
import TestAgent from 'supertest/lib/agent';
import { RefreshTokenCodec } from '../../src/sessions/refresh-token';
import { newUser, TestUser } from './factories';
import { OwnPostgres, startOwnPostgres } from './own-postgres';
import { createTestApp, TestApp } from './test-app';
import { createTestDatabase, TEST_APP_USER, TestDatabase, testDatabaseAt } from './test-database';

/**
 * The harness of the fault suites (test/faults-*.e2e-spec.ts): the service with a small pool and a
 * short acquire timeout, on a PostgreSQL server the file owns (support/own-postgres.ts; never the
 * shared test server, in either test mode, when the file stops it or kills its backends), requests
 * recorded as the client saw them, and what the owner sees of the runtime role's backends.
 */

export const ACQUIRE_TIMEOUT_MS = 1000;
export const POOL_MAX = 4;
/**
 * Slack on top of the acquire timeout for "failed fast". The slowest legitimate failure waits out the
 * whole acquire timeout (every connection busy or none can be made) and then only builds a small JSON
 * body; 2 s covers event-loop and GC pauses of a loaded CI machine running two Jest workers, and is
 * still far below what a hang would take (the statement timeout, knex's 60 s default acquire timeout,
 * or a connect() without a timeout, which never ends).
 */
export const FAIL_FAST_MARGIN_MS = 2000;
export const FAIL_FAST_BOUND_MS = ACQUIRE_TIMEOUT_MS + FAIL_FAST_MARGIN_MS;
/** The client gives up on a request after this long and records a hang. */
const HANG_MS = 8000;
/**
 * Long enough that every replay in these files falls inside the grace window (see `successorOf`):
 * a refresh that committed but whose response was lost is then recovered by sending the same token
 * again, which returns the very successor the lost response carried.
 */
const REFRESH_GRACE_SECONDS = 300;
const STATEMENT_TIMEOUT_MS = 5000;
export const POLL_INTERVAL_MS = 50;
const POLL_BOUND_MS = 5000;

export const UNAVAILABLE = { statusCode: 503, message: 'Database unavailable, try again shortly', error: 'Service Unavailable' };
/** Nothing from the driver, the pool or the connection in an error body. */
export const DRIVER_TEXT = /ECONNREFUSED|ECONNRESET|Knex|pg_|postgres|127\.0\.0\.1|connect|terminat|select|timeout|administrator|shutdown|\bat \S+ \(/i;

export const sha256 = (token: string): string => createHash('sha256').update(token).digest('hex');
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` until it returns something other than undefined; fails after `boundMs`. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, boundMs = POLL_BOUND_MS): Promise<T> {
  const deadline = Date.now() + boundMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${boundMs} ms waiting for ${what}`);
    await sleep(POLL_INTERVAL_MS);
  }
}

export type Op = 'refresh' | 'me' | 'sessions' | 'login';

/** One request as the client saw it. */
export interface Sample {
  worker: string;
  op: Op;
  start: number;
  end: number;
  /** HTTP status, or what went wrong on the client's side. */
  status: number | 'hang' | 'network';
  contentType?: string;
  body?: unknown;
  text?: string;
}

/** Sends a request; never throws: a hang or a dropped connection becomes the sample's status. */
export async function send(worker: string, op: Op, req: Test): Promise<{ sample: Sample; res?: Response }> {
  const start = Date.now();
  try {
    const res = await req.timeout(HANG_MS);
    const sample: Sample = { worker, op, start, end: Date.now(), status: res.status, contentType: res.headers['content-type'] };
    if (res.status !== 200) Object.assign(sample, { body: res.body, text: res.text });
    return { sample, res };
  } catch (err) {
    const hang = (err as { timeout?: unknown }).timeout !== undefined;
    return { sample: { worker, op, start, end: Date.now(), status: hang ? 'hang' : 'network', text: String(err) } };
  }
}

/** The JSON 503 the service answers when the database fails it, with nothing of the driver in it. */
export function expectUnavailable(sample: Sample): void {
  expect(sample.status).toBe(503);
  expect(sample.contentType).toMatch(/application\/json/);
  expect(sample.body).toEqual(UNAVAILABLE);
  expect(sample.text).not.toMatch(DRIVER_TEXT);
}

export interface FaultsApp {
  /** The file's own PostgreSQL server (not with `ownServer: false`). */
  pg?: OwnPostgres;
  t: TestApp;
  http: TestAgent;
  db: TestDatabase;
  users: TestUser[];
  /**
   * The token a successful refresh of `token` returns. Refresh tokens are a pure function of (user,
   * session, generation) and the server secret (src/sessions/refresh-token.ts), so the successor is
   * the same token with generation + 1 — whether the refresh rotates the row now or rotated it
   * before: a refresh that committed but whose response never reached the client leaves the
   * successor's hash in the row, and sending the old token again within the grace window
   * (REFRESH_GRACE_SECONDS, 300 s here, so every replay in these files is inside it) re-derives and
   * returns that same successor instead of treating the replay as reuse.
   */
  successorOf(token: string): string;
  sessionRow(id: string): Promise<Record<string, unknown> | undefined>;
  /** Backends of the runtime role in this database, as the owner sees them on `c`. */
  runtimeBackends(c: Client, where?: string): Promise<{ pid: number; state: string; wait_event_type: string | null }[]>;
  /**
   * Runtime backends waiting on a lock. Asked on a connection of its own: pg_stat_activity is a
   * snapshot taken once per transaction, so the owner transaction holding the lock would never see
   * the waiter arrive.
   */
  lockWaiters(): Promise<{ pid: number }[]>;
  close(): Promise<void>;
}

/**
 * The service on its own database with `userCount` registered users. `ownServer` (default): on a
 * PostgreSQL server of the file's own, which the file may stop, freeze or kill backends of; otherwise
 * on the shared test server (a file that only takes row locks).
 */
export async function startFaultsApp(name: string, userCount: number, { ownServer = true } = {}): Promise<FaultsApp> {
  const pg = ownServer ? await startOwnPostgres({ database: `nra_${name}`, prefix: `nra-${name}-pg-` }) : undefined;
  let t: TestApp | undefined;
  try {
    const db = pg ? await testDatabaseAt(pg.ownerUrl) : await createTestDatabase();
    t = await createTestApp({
      db,
      env: {
        DATABASE_ACQUIRE_TIMEOUT_MS: String(ACQUIRE_TIMEOUT_MS),
        DATABASE_POOL_MAX: String(POOL_MAX),
        DATABASE_STATEMENT_TIMEOUT_MS: String(STATEMENT_TIMEOUT_MS),
        REFRESH_GRACE_SECONDS: String(REFRESH_GRACE_SECONDS),
        RATE_LIMIT_LOGIN_PER_IP: '1000000',
        RATE_LIMIT_LOGIN_PER_ACCOUNT: '1000000',
        RATE_LIMIT_REFRESH_PER_IP: '1000000',
        LOG_LEVEL: 'warn',
      },
    });
    const app = t;
    const codec = app.app.get(RefreshTokenCodec);
    const users: TestUser[] = [];
    for (let i = 0; i < userCount; i++) users.push(await newUser(app.http));
    const runtimeBackends: FaultsApp['runtimeBackends'] = (c, where = 'true') =>
      c
        .query(
          `select pid, state, wait_event_type from pg_stat_activity
            where usename = $1 and datname = current_database() and pid <> pg_backend_pid() and (${where})`,
          [TEST_APP_USER],
        )
        .then((r) => r.rows);
    return {
      pg,
      t: app,
      http: app.http,
      db,
      users,
      successorOf: (token) => {
        const claims = codec.parse(token);
        if (!claims) throw new Error('not a refresh token of this server');
        return codec.issue({ ...claims, generation: claims.generation + 1 });
      },
      sessionRow: (id) => db.sessionRow(id),
      runtimeBackends,
      lockWaiters: () => db.asOwner((c) => runtimeBackends(c, `wait_event_type = 'Lock' and state = 'active'`)),
      close: async () => {
        try {
          await app.close();
          if (!pg) await db.drop();
        } finally {
          await pg?.close();
        }
      },
    };
  } catch (err) {
    await t?.close().catch(() => undefined);
    await pg?.close();
    throw err;
  }
}
