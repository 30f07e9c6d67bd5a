import { EntityManager } from '@mikro-orm/postgresql';
import { Client } from 'pg';
import { bearer, login } from './support/factories';
import { expectUnavailable, FAIL_FAST_MARGIN_MS, FaultsApp, POOL_MAX, send, sleep, startFaultsApp, waitFor } from './support/fault-harness';

/**
 * Faults: runtime backends killed (pg_terminate_backend, on a PostgreSQL server this file owns, see
 * support/fault-harness.ts) in the middle of a refresh — while it waits on its row, and at its
 * COMMIT — under a BEGIN, and while idle: the request gets the JSON 503 at once, nothing is half
 * written, and the pool hands out no dead connection afterwards.
 */

/** Advisory lock key the COMMIT-holding trigger waits on. */
const HOLD_LOCK_KEY = 7_301_955;

describe('runtime backends killed (pg_terminate_backend) in the middle of requests, and while idle', () => {
  let f: FaultsApp;
  beforeAll(async () => {
    f = await startFaultsApp('faults_backends', 4);
  }, 120_000);
  afterAll(() => f?.close(), 60_000);

  it('answers a refresh whose backend is killed while it waits on the session row with the JSON 503, leaves the row exactly as it was, and the next requests succeed', async () => {
    const http = f.http;
    const tokens = await login(http, f.users[0], { deviceName: 'killed-backend' });
    const before = await f.sessionRow(tokens.sessionId);
    const locker = new Client({ connectionString: f.db.ownerUrl });
    await locker.connect();
    try {
      // The owner holds the weakest row lock that still makes the refresh's own `select … for update`
      // wait (FOR KEY SHARE): a plain UPDATE of the row is not blocked by it, so a rotation written
      // outside the refresh's locked transaction would get through and show in the row below.
      await locker.query('begin');
      await locker.query('select 1 from sessions where id = $1 for key share', [tokens.sessionId]);
      const pending = send('killed', 'refresh', http.post('/auth/refresh').send({ refreshToken: tokens.refreshToken }));
      const blocked = await waitFor('the refresh to wait on the row lock', async () => {
        const found = await f.lockWaiters();
        return found.length === 1 ? found[0] : undefined;
      });
      const killedAt = Date.now();
      const { rows } = await locker.query<{ ok: boolean }>('select pg_terminate_backend($1) as ok', [blocked.pid]);
      expect(rows[0].ok).toBe(true);
      const { sample } = await pending;
      expectUnavailable(sample);
      expect(sample.end - killedAt).toBeLessThan(FAIL_FAST_MARGIN_MS);
    } finally {
      await locker.query('rollback').catch(() => undefined);
      await locker.end();
    }

    // Not half-rotated: the refresh did not happen at all (hash, last use, expiry unchanged).
    expect(await f.sessionRow(tokens.sessionId)).toEqual(before);

    // The next requests succeed, on more requests than the pool has connections: the dead
    // connection is not handed out again.
    const burst = await Promise.all(Array.from({ length: POOL_MAX * 3 }, () => http.get('/auth/me').set(...bearer(tokens))));
    expect(burst.map((r) => r.status)).toEqual(Array(POOL_MAX * 3).fill(200));
    const rotated = await http.post('/auth/refresh').send({ refreshToken: tokens.refreshToken });
    expect(rotated.status).toBe(200);
    expect(rotated.body.refreshToken).toBe(f.successorOf(tokens.refreshToken));
    await http.get('/sessions').set(...bearer(rotated.body)).expect(200);
  });

  it('answers a refresh whose backend is killed at its COMMIT, after the rotation was written, with the JSON 503 — and the rotation is rolled back whole', async () => {
    const http = f.http;
    const tokens = await login(http, f.users[1], { deviceName: 'killed-at-commit' });
    const before = await f.sessionRow(tokens.sessionId);
    const holder = new Client({ connectionString: f.db.ownerUrl });
    await holder.connect();
    try {
      // A deferred constraint trigger holds every transaction that writes a new refresh-token hash
      // at its COMMIT, on an advisory lock the owner holds: the refresh has locked the row and
      // written the new hash, last use and expiry, and is committing when its backend is killed.
      await holder.query(`create function nra_test_hold_rotation() returns trigger language plpgsql as $$
        begin perform pg_advisory_xact_lock_shared(${HOLD_LOCK_KEY}); return null; end $$`);
      await holder.query(`create constraint trigger nra_test_hold_rotation after update of refresh_token_hash on sessions
        deferrable initially deferred for each row when (old.refresh_token_hash is distinct from new.refresh_token_hash)
        execute function nra_test_hold_rotation()`);
      await holder.query('select pg_advisory_lock($1)', [HOLD_LOCK_KEY]);
      const pending = send('killed-at-commit', 'refresh', http.post('/auth/refresh').send({ refreshToken: tokens.refreshToken }));
      const blocked = await waitFor('the refresh to wait at its COMMIT', async () => {
        const found = await f.db.asOwner((c) => f.runtimeBackends(c, `wait_event_type = 'Lock' and state = 'active' and query ilike 'commit%'`));
        return found.length === 1 ? found[0] : undefined;
      });
      const killedAt = Date.now();
      await f.db.asOwner((c) => c.query('select pg_terminate_backend($1)', [blocked.pid]));
      const { sample } = await pending;
      expectUnavailable(sample);
      expect(sample.end - killedAt).toBeLessThan(FAIL_FAST_MARGIN_MS);
    } finally {
      await holder.query('select pg_advisory_unlock_all()').catch(() => undefined);
      await holder.query('drop trigger if exists nra_test_hold_rotation on sessions').catch(() => undefined);
      await holder.query('drop function if exists nra_test_hold_rotation()').catch(() => undefined);
      await holder.end();
    }

    // Nothing of the rotation survived: hash, last use and expiry are as before, and the old token
    // (the only one the client has) still refreshes.
    expect(await f.sessionRow(tokens.sessionId)).toEqual(before);
    const rotated = await http.post('/auth/refresh').send({ refreshToken: tokens.refreshToken });
    expect(rotated.status).toBe(200);
    expect(rotated.body.refreshToken).toBe(f.successorOf(tokens.refreshToken));
    await http.get('/auth/me').set(...bearer(rotated.body)).expect(200);
  });

  it('answers with the JSON 503 when the backend dies while the transaction’s BEGIN is in flight, and the next requests succeed', async () => {
    const http = f.http;
    const tokens = await login(http, f.users[3], { deviceName: 'begin-killed' });
    // Fill the pool, so the next request reuses an idle pooled connection.
    await Promise.all(Array.from({ length: POOL_MAX * 2 }, () => http.get('/auth/me').set(...bearer(tokens)).expect(200)));
    const pids = (await f.db.asOwner((c) => f.runtimeBackends(c))).map((b) => b.pid);
    expect(pids.length).toBeGreaterThan(0);
    const pg = (await f.t.app.get(EntityManager).getConnection().getNativeClient()) as { totalCount: number; idleCount: number };
    const pool = { numUsed: (): number => pg.totalCount - pg.idleCount };
    // Freeze those backends (SIGSTOP; the test owns this server), so the request's BEGIN reaches
    // one that does not answer; then terminate them and let them go: the BEGIN fails (57P01).
    for (const pid of pids) process.kill(pid, 'SIGSTOP');
    let pending: ReturnType<typeof send> | undefined;
    try {
      pending = send('begin-killed', 'me', http.get('/auth/me').set(...bearer(tokens)));
      await waitFor('the request to take a pooled connection', async () => (pool.numUsed() > 0 ? true : undefined));
      await sleep(100); // BEGIN written to the frozen backend's socket
      await f.db.asOwner((c) => c.query('select pg_terminate_backend(pid) from unnest($1::int[]) as pid', [pids]));
    } finally {
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGCONT');
        } catch {
          // already gone
        }
      }
    }
    const { sample } = await pending!;
    expectUnavailable(sample);

    // Once the killed backends are gone, none of their connections is handed out again.
    await f.db.asOwner((c) => waitFor('the terminated backends to exit', async () => ((await f.runtimeBackends(c)).length === 0 ? true : undefined)));
    await sleep(100); // let the client sockets see the close
    const after = await Promise.all(Array.from({ length: POOL_MAX * 2 }, () => http.get('/sessions').set(...bearer(tokens))));
    expect(after.map((r) => r.status)).toEqual(Array(POOL_MAX * 2).fill(200));
  });

  it('serves the next requests with 200 after every pooled runtime connection is terminated while idle', async () => {
    const http = f.http;
    const tokens = await login(http, f.users[1], { deviceName: 'idle-killed' });
    // Fill the pool, then kill all its connections while they sit idle.
    await Promise.all(Array.from({ length: POOL_MAX * 2 }, () => http.get('/auth/me').set(...bearer(tokens)).expect(200)));
    await f.db.asOwner(async (c) => {
      const idle = await f.runtimeBackends(c);
      expect(idle.length).toBeGreaterThan(0);
      await c.query('select pg_terminate_backend(pid) from unnest($1::int[]) as pid', [idle.map((b) => b.pid)]);
      await waitFor('the terminated backends to exit', async () => ((await f.runtimeBackends(c)).length === 0 ? true : undefined));
    });
    await sleep(100); // let the client sockets see the close
    const after = await Promise.all(Array.from({ length: POOL_MAX * 2 }, () => http.get('/sessions').set(...bearer(tokens))));
    expect(after.map((r) => r.status)).toEqual(Array(POOL_MAX * 2).fill(200));
  });
});
