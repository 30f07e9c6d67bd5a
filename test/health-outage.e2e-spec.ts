import { ChildProcess, spawn } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Response } from 'supertest';
import type { EmbeddedDatabaseOptions } from '../src/database/embedded-postgres';
import { bearer, login, newUser, TestUser, Tokens } from './support/factories';
import { freePort } from './support/net';
import { createTestApp, TestApp } from './support/test-app';
import { testDatabaseAt, withClient } from './support/test-database';

const ACQUIRE_TIMEOUT_MS = 1000;
/** Upper bounds generous enough for a loaded machine, well short of "hangs". */
const HEALTH_DOWN_BOUND_MS = 5000;
const ROUTE_DOWN_BOUND_MS = ACQUIRE_TIMEOUT_MS + 3000;
const RECOVERY_POLLS = 60;
const RECOVERY_POLL_INTERVAL_MS = 250;

/** Nothing from the driver or the connection in an error body. */
function expectNoDriverText(res: Response): void {
  expect(res.text).not.toMatch(/ECONNREFUSED|ECONNRESET|Knex|pg_|postgres|127\.0\.0\.1|connect|terminat|select|timeout|\bat \S+ \(/i);
}

/**
 * An `EmbeddedDatabase` (src/database/embedded-postgres.ts) run in a child Node process: the package
 * is ESM-only and loaded with a real dynamic import(), which Jest's module sandbox refuses without
 * --experimental-vm-modules. The child starts the server, reports the owner URL, and stops it (and
 * exits) when told to or when the test process goes away.
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

interface EmbeddedServerProcess {
  ownerUrl: string;
  /** Stops PostgreSQL (fast shutdown: open connections are cut) and waits for the child to exit. */
  stop(): Promise<void>;
}

async function startEmbeddedServer(options: EmbeddedDatabaseOptions): Promise<EmbeddedServerProcess> {
  const root = resolve(__dirname, '..');
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
  const ownerUrl = await new Promise<string>((done, fail) => {
    child.once('message', (m: { url?: string }) => (m.url ? done(m.url) : fail(new Error('no URL from the embedded server'))));
    child.once('exit', (code) => fail(new Error(`the embedded server process exited (${code}) before starting:\n${stderr}`)));
  });
  return {
    ownerUrl,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null && child.connected) child.send('stop');
      const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(killer);
    },
  };
}

async function timed(req: PromiseLike<Response>): Promise<{ res: Response; ms: number }> {
  const started = Date.now();
  const res = await req;
  return { res, ms: Date.now() - started };
}

/**
 * The service's own PostgreSQL goes away and comes back while the service keeps running: an
 * embedded server of this file's own (in both test modes), stopped and started again on the same
 * data directory and port.
 */
describe('database outage and recovery without restarting the service', () => {
  let dir: string | undefined;
  let port: number;
  let server: EmbeddedServerProcess | undefined;
  let t: TestApp | undefined;
  let user: TestUser;
  let tokens: Tokens;

  let ownerUrl: string;
  const startServer = async (): Promise<string> => {
    server = await startEmbeddedServer({ dir: join(dir!, 'data'), port, database: 'nra_outage' });
    return server.ownerUrl;
  };
  const stopServer = async (): Promise<void> => {
    await server?.stop();
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nra-outage-pg-'));
    await chmod(dir, 0o755); // the server runs as the `postgres` system user when tests run as root
    port = await freePort();
    ownerUrl = await startServer();
    const db = await testDatabaseAt(ownerUrl);
    t = await createTestApp({ db, env: { DATABASE_ACQUIRE_TIMEOUT_MS: String(ACQUIRE_TIMEOUT_MS) } });
    user = await newUser(t.http);
    tokens = await login(t.http, user);
  }, 180_000);

  afterAll(async () => {
    try {
      await t?.close();
    } finally {
      try {
        await stopServer();
      } finally {
        if (dir) await rm(dir, { recursive: true, force: true });
      }
    }
  }, 60_000);

  it('reports 200 {status: ok, database: up} and serves authenticated routes while the database is up', async () => {
    const health = await t!.http.get('/health');
    expect(health.status).toBe(200);
    expect(health.body).toEqual({ status: 'ok', database: 'up' });
    const me = await t!.http.get('/auth/me').set(...bearer(tokens));
    expect(me.status).toBe(200);
    expect(me.body.id).toBe(user.id);
  });

  it(`reports 503 {status: error, database: down} within ${HEALTH_DOWN_BOUND_MS} ms once the database server stops`, async () => {
    await stopServer();
    // Really down: nothing answers on its port.
    await expect(withClient(ownerUrl, (c) => c.query('select 1'))).rejects.toThrow();

    const { res, ms } = await timed(t!.http.get('/health'));
    expect(res.status).toBe(503);
    expect(res.headers['content-type']).toMatch(/application\/json/);
    expect(res.body).toEqual({ status: 'error', database: 'down' });
    expect(ms).toBeLessThan(HEALTH_DOWN_BOUND_MS);
  });

  it(`answers an authenticated route with a JSON 503 (no driver text) within ${ROUTE_DOWN_BOUND_MS} ms while the database is down`, async () => {
    for (const path of ['/auth/me', '/sessions']) {
      const { res, ms } = await timed(t!.http.get(path).set(...bearer(tokens)));
      expect(res.status).toBe(503);
      expect(res.headers['content-type']).toMatch(/application\/json/);
      expect(res.body).toEqual({ statusCode: 503, message: 'Database unavailable, try again shortly', error: 'Service Unavailable' });
      expectNoDriverText(res);
      expect(res.text).not.toContain(String(port));
      expect(ms).toBeLessThan(ROUTE_DOWN_BOUND_MS);
    }
  });

  it(`returns to 200 within ${RECOVERY_POLLS} polls once the database is back, and the same access token works again`, async () => {
    await startServer();

    let last: Response | undefined;
    for (let poll = 0; poll < RECOVERY_POLLS; poll++) {
      last = await t!.http.get('/health');
      if (last.status === 200) break;
      await new Promise((r) => setTimeout(r, RECOVERY_POLL_INTERVAL_MS));
    }
    expect(last?.status).toBe(200);
    expect(last?.body).toEqual({ status: 'ok', database: 'up' });

    const me = await t!.http.get('/auth/me').set(...bearer(tokens));
    expect(me.status).toBe(200);
    expect(me.body.id).toBe(user.id);
    const sessions = await t!.http.get('/sessions').set(...bearer(tokens));
    expect(sessions.status).toBe(200);
    expect(sessions.body).toEqual([expect.objectContaining({ id: tokens.sessionId, current: true })]);
  });
});
