import type { Response } from 'supertest';
import { bearer, login, newUser, TestUser, Tokens } from './support/factories';
import { OwnPostgres, startOwnPostgres } from './support/own-postgres';
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

async function timed(req: PromiseLike<Response>): Promise<{ res: Response; ms: number }> {
  const started = Date.now();
  const res = await req;
  return { res, ms: Date.now() - started };
}

/**
 * The service's own PostgreSQL goes away and comes back while the service keeps running: an
 * embedded server of this file's own (in both test modes; see support/own-postgres.ts), stopped and
 * started again on the same data directory and port.
 */
describe('database outage and recovery without restarting the service', () => {
  let pg: OwnPostgres | undefined;
  let port: number;
  let ownerUrl: string;
  let t: TestApp | undefined;
  let user: TestUser;
  let tokens: Tokens;

  beforeAll(async () => {
    pg = await startOwnPostgres({ database: 'nra_outage', prefix: 'nra-outage-pg-' });
    port = pg.port;
    ownerUrl = pg.ownerUrl;
    const db = await testDatabaseAt(ownerUrl);
    t = await createTestApp({ db, env: { DATABASE_ACQUIRE_TIMEOUT_MS: String(ACQUIRE_TIMEOUT_MS) } });
    user = await newUser(t.http);
    tokens = await login(t.http, user);
  }, 180_000);

  afterAll(async () => {
    try {
      await t?.close();
    } finally {
      await pg?.close();
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
    await pg!.stop();
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
    await pg!.start();

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
