import { createHash } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { EntityManager } from '@mikro-orm/postgresql';
import { Client } from 'pg';
import type { Response, Test } from 'supertest';
import { RefreshTokenCodec } from '../src/sessions/refresh-token';
import { bearer, login, newUser, TestUser, Tokens } from './support/factories';
import { OwnPostgres, startOwnPostgres } from './support/own-postgres';
import { createTestApp, TestApp } from './support/test-app';
import { TEST_APP_USER, TestDatabase, testDatabaseAt } from './support/test-database';

/**
 * Faults under load, against a PostgreSQL server this file owns (support/own-postgres.ts; never the
 * shared test server, in either test mode): the server is restarted while several users' requests
 * are flowing; runtime backends are killed in the middle of a refresh (while it waits on its row,
 * and at its COMMIT), under a BEGIN, and while idle; and a client gives up on a refresh that the
 * server then completes.
 */

const ACQUIRE_TIMEOUT_MS = 1000;
const POOL_MAX = 4;
/**
 * Slack on top of the acquire timeout for "failed fast". The slowest legitimate failure waits out the
 * whole acquire timeout (every connection busy or none can be made) and then only builds a small JSON
 * body; 2 s covers event-loop and GC pauses of a loaded CI machine running two Jest workers, and is
 * still far below what a hang would take (the statement timeout, knex's 60 s default acquire timeout,
 * or a connect() without a timeout, which never ends).
 */
const FAIL_FAST_MARGIN_MS = 2000;
const FAIL_FAST_BOUND_MS = ACQUIRE_TIMEOUT_MS + FAIL_FAST_MARGIN_MS;
/** The client gives up on a request after this long and records a hang. */
const HANG_MS = 8000;
/**
 * Long enough that every replay in this file falls inside the grace window (see `successorOf`):
 * a refresh that committed but whose response was lost is then recovered by sending the same token
 * again, which returns the very successor the lost response carried.
 */
const REFRESH_GRACE_SECONDS = 300;
const STATEMENT_TIMEOUT_MS = 5000;

const WARMUP_MS = 1500;
/**
 * Longer than FAIL_FAST_BOUND_MS, so that a request that waits for the database instead of failing
 * (it would last at least this long) cannot pass for a fast failure.
 */
const OUTAGE_MS = FAIL_FAST_BOUND_MS + 500;
/** How long after PostgreSQL accepts connections again the service must be answering 200s. */
const RECOVERY_BOUND_MS = 10_000;
/** Traffic kept going once every client has succeeded again, to catch late failures from broken pooled connections. */
const AFTER_RECOVERY_MS = 1500;
const PACE_MS = 40;
const POLL_INTERVAL_MS = 50;
const POLL_BOUND_MS = 5000;
/** Advisory lock key the COMMIT-holding trigger waits on. */
const HOLD_LOCK_KEY = 7_301_955;

const UNAVAILABLE = { statusCode: 503, message: 'Database unavailable, try again shortly', error: 'Service Unavailable' };
/** Nothing from the driver, the pool or the connection in an error body. */
const DRIVER_TEXT = /ECONNREFUSED|ECONNRESET|Knex|pg_|postgres|127\.0\.0\.1|connect|terminat|select|timeout|administrator|shutdown|\bat \S+ \(/i;

const sha256 = (token: string): string => createHash('sha256').update(token).digest('hex');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` until it returns something other than undefined; fails after `boundMs`. */
async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, boundMs = POLL_BOUND_MS): Promise<T> {
  const deadline = Date.now() + boundMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${boundMs} ms waiting for ${what}`);
    await sleep(POLL_INTERVAL_MS);
  }
}

type Op = 'refresh' | 'me' | 'sessions' | 'login';

/** One request as the client saw it. */
interface Sample {
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

/**
 * A client's view of one session. `held` is the last token pair it got a 200 for; `unknown` lists
 * the refresh tokens it sent in refreshes whose outcome it did not learn (a 503, or a response lost
 * on the way back).
 */
interface ClientSession {
  name: string;
  user: TestUser;
  sessionId: string;
  held: Tokens;
  unknown: string[];
  /**
   * `retry`: after an unknown outcome it keeps its token and refreshes with it again later (a real
   * client's retry), and it loses every 3rd successful refresh response (from the 2nd) on purpose.
   * `drop-and-wait`: loses the response of its 2nd successful refresh, and
   * refreshes no more until the final check — so the server has rotated, and the client never
   * learned it.
   * `fail-and-wait`: refreshes normally until its first 503 (during the outage), then no more until
   * the final check — so the outcome stays unknown until then.
   * `idle`: opened by a login during the traffic; never refreshed.
   */
  mode: 'retry' | 'drop-and-wait' | 'fail-and-wait' | 'idle';
  waiting: boolean;
  successes: number;
  lostResponses: number;
}

describe('faults: PostgreSQL restarted and backends killed while requests are flowing', () => {
  let pg: OwnPostgres | undefined;
  let t: TestApp | undefined;
  let db: TestDatabase;
  let codec: RefreshTokenCodec;
  const users: TestUser[] = [];

  beforeAll(async () => {
    pg = await startOwnPostgres({ database: 'nra_faults', prefix: 'nra-faults-pg-' });
    db = await testDatabaseAt(pg.ownerUrl);
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
    codec = t.app.get(RefreshTokenCodec);
    for (let i = 0; i < 4; i++) users.push(await newUser(t.http));
  }, 120_000);

  afterAll(async () => {
    try {
      await t?.close();
    } finally {
      await pg?.close();
    }
  }, 60_000);

  /**
   * The token a successful refresh of `token` returns. Refresh tokens are a pure function of (user,
   * session, generation) and the server secret (src/sessions/refresh-token.ts), so the successor is
   * the same token with generation + 1 — whether the refresh rotates the row now or rotated it
   * before: a refresh that committed but whose response never reached the client leaves the
   * successor's hash in the row, and sending the old token again within the grace window
   * (REFRESH_GRACE_SECONDS, 300 s here, so every replay in this file is inside it) re-derives and
   * returns that same successor instead of treating the replay as reuse.
   */
  const successorOf = (token: string): string => {
    const claims = codec.parse(token);
    if (!claims) throw new Error('not a refresh token of this server');
    return codec.issue({ ...claims, generation: claims.generation + 1 });
  };

  const sessionRow = (id: string): Promise<Record<string, unknown> | undefined> => db.sessionRow(id);

  /** Backends of the runtime role in this database, as the owner sees them. */
  const runtimeBackends = (c: Client, where = 'true'): Promise<{ pid: number; state: string; wait_event_type: string | null }[]> =>
    c
      .query(
        `select pid, state, wait_event_type from pg_stat_activity
          where usename = $1 and datname = current_database() and pid <> pg_backend_pid() and (${where})`,
        [TEST_APP_USER],
      )
      .then((r) => r.rows);

  /**
   * Runtime backends waiting on a lock. Asked on a connection of its own: pg_stat_activity is a
   * snapshot taken once per transaction, so the owner transaction holding the lock would never see
   * the waiter arrive.
   */
  const lockWaiters = (): Promise<{ pid: number }[]> => db.asOwner((c) => runtimeBackends(c, `wait_event_type = 'Lock' and state = 'active'`));

  /** Sends a request; never throws: a hang or a dropped connection becomes the sample's status. */
  async function send(worker: string, op: Op, req: Test): Promise<{ sample: Sample; res?: Response }> {
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

  describe('PostgreSQL restarted (fast shutdown) under continuous traffic of several users', () => {
    const samples: Sample[] = [];
    const clients: ClientSession[] = [];
    const loginsBeforeOutage: ClientSession[] = [];
    /** When the stop began (until then, every login counts as one from before the outage). */
    let stopBegin = Number.MAX_SAFE_INTEGER;
    let stopEnd = 0;
    let startBegin = 0;
    let startEnd = 0;
    let recoveredAt: number | undefined;

    beforeAll(async () => {
      const http = t!.http;
      const modes: ClientSession['mode'][] = ['retry', 'retry', 'retry', 'retry', 'drop-and-wait', 'drop-and-wait', 'fail-and-wait', 'fail-and-wait'];
      for (const [i, mode] of modes.entries()) {
        const user = users[i % users.length];
        const held = await login(http, user, { deviceName: `client-${i}` });
        clients.push({ name: `client-${i}`, user, sessionId: held.sessionId, held, unknown: [], mode, waiting: false, successes: 0, lostResponses: 0 });
      }

      let stop = false;
      const record = (s: Sample): number => samples.push(s);

      async function refresh(c: ClientSession): Promise<void> {
        const sent = c.held.refreshToken;
        const { sample, res } = await send(c.name, 'refresh', http.post('/auth/refresh').send({ refreshToken: sent }));
        record(sample);
        if (res?.status === 200) {
          // Responses lost on the way back, on purpose (the server rotated; the client never learns
          // it): every 3rd success of a `retry` client from its 2nd on, and the 2nd success of a
          // `drop-and-wait` client.
          c.successes++;
          const lose = (c.mode === 'retry' && c.successes % 3 === 2) || (c.mode === 'drop-and-wait' && c.successes === 2);
          if (!lose) {
            c.held = res.body as Tokens;
            return;
          }
          c.unknown.push(sent);
          c.lostResponses++;
          if (c.mode === 'drop-and-wait') c.waiting = true;
          return;
        }
        // A 503 (or anything else): the client cannot know whether the refresh happened.
        c.unknown.push(sent);
        if (c.mode === 'fail-and-wait') c.waiting = true;
      }

      async function sessionWorker(c: ClientSession, index: number): Promise<void> {
        const ops: Op[] = ['refresh', 'me', 'refresh', 'sessions'];
        await sleep(index * (PACE_MS / 4)); // staggered starts
        for (let i = 0; !stop; i++) {
          const op = ops[i % ops.length];
          if (op === 'refresh' && !c.waiting) await refresh(c);
          else if (op === 'sessions') record((await send(c.name, op, http.get('/sessions').set(...bearer(c.held)))).sample);
          else record((await send(c.name, 'me', http.get('/auth/me').set(...bearer(c.held)))).sample);
          await sleep(PACE_MS);
        }
      }

      async function loginWorker(): Promise<void> {
        for (let i = 0; !stop; i++) {
          const user = users[i % users.length];
          const { sample, res } = await send('login', 'login', http.post('/auth/login').send({ email: user.email, password: user.password }));
          record(sample);
          if (res?.status === 200 && sample.end < stopBegin) {
            const held = res.body as Tokens;
            loginsBeforeOutage.push({ name: `login-${i}`, user, sessionId: held.sessionId, held, unknown: [], mode: 'idle', waiting: false, successes: 0, lostResponses: 0 });
          }
          await sleep(PACE_MS * 5);
        }
      }

      // Warm up first — every route once, then the pool's connections opened — so the first burst of
      // traffic does not queue behind cold code paths and connection set-up (on a loaded machine that
      // alone can approach the acquire timeout).
      const warm = await login(http, users[0], { deviceName: 'warm-up' });
      await http.post('/auth/refresh').send({ refreshToken: warm.refreshToken }).expect(200);
      await http.get('/sessions').set(...bearer(warm)).expect(200);
      await Promise.all(Array.from({ length: POOL_MAX * 2 }, () => http.get('/auth/me').set(...bearer(warm)).expect(200)));
      const workers = [...clients.map((c, i) => sessionWorker(c, i)), loginWorker()];
      const everyoneSucceededSince = (since: number): boolean =>
        [...clients.map((c) => c.name), 'login'].every((w) => samples.some((s) => s.worker === w && s.status === 200 && s.start >= since));
      try {
        await sleep(WARMUP_MS);
        stopBegin = Date.now();
        await pg!.stop();
        stopEnd = Date.now();
        await sleep(OUTAGE_MS);
        startBegin = Date.now();
        await pg!.start();
        startEnd = Date.now();
        const deadline = startEnd + RECOVERY_BOUND_MS;
        while (Date.now() < deadline && !everyoneSucceededSince(startBegin)) await sleep(POLL_INTERVAL_MS);
        if (everyoneSucceededSince(startBegin)) {
          recoveredAt = Date.now();
          await sleep(AFTER_RECOVERY_MS);
        }
      } finally {
        stop = true;
        await Promise.all(workers);
        if (!pg!.running) await pg!.start(); // leave a server for the tests below even if this failed
      }
    }, 60_000);

    const describeSample = (s: Sample): string =>
      `${s.worker} ${s.op} at +${s.start - stopBegin} ms: ${s.status} in ${s.end - s.start} ms ${s.text ?? ''}`.trim();

    it(`answers every request during the outage within ${FAIL_FAST_BOUND_MS} ms with the JSON 503 (no hang, no 500, no driver text)`, () => {
      // Every request sent while the server was down (from its stop until the restart began — which
      // takes a while more to accept connections) — however long it then took, so that one waiting
      // for the database to come back counts too.
      const during = samples.filter((s) => s.start >= stopEnd && s.start < startBegin);
      // Traffic really flowed during the outage, of every kind.
      expect(during.length).toBeGreaterThanOrEqual(20);
      expect(new Set(during.map((s) => s.op))).toEqual(new Set(['refresh', 'me', 'sessions', 'login']));
      const wrong = during.filter(
        (s) =>
          s.status !== 503 ||
          !/application\/json/.test(s.contentType ?? '') ||
          !isDeepStrictEqual(s.body, UNAVAILABLE) ||
          DRIVER_TEXT.test(s.text ?? '') ||
          s.end - s.start >= FAIL_FAST_BOUND_MS,
      );
      expect(wrong.map(describeSample)).toEqual([]);
    });

    it('answers every request of the whole run with 200 or that 503 — never a 500, a 401, a hang or a dropped connection — and fast', () => {
      expect(stopEnd).toBeGreaterThan(0);
      const wrong = samples.filter(
        (s) =>
          !(s.status === 200 || (s.status === 503 && isDeepStrictEqual(s.body, UNAVAILABLE))) ||
          s.end - s.start >= FAIL_FAST_BOUND_MS,
      );
      expect(wrong.map(describeSample)).toEqual([]);
      // Before the stop everything succeeded.
      expect(samples.filter((s) => s.end < stopBegin && s.status !== 200).map(describeSample)).toEqual([]);
    });

    it(`recovers by itself within ${RECOVERY_BOUND_MS} ms of PostgreSQL being back, without restarting the app, and then fails nothing`, async () => {
      expect(startEnd).toBeGreaterThan(0);
      expect(recoveredAt).toBeDefined();
      expect(recoveredAt! - startEnd).toBeLessThan(RECOVERY_BOUND_MS);
      // Once one request has succeeded on the restarted server, every request started after it
      // succeeds: no broken connection from before the restart is still handed out by the pool.
      const firstSuccess = Math.min(...samples.filter((s) => s.start >= startBegin && s.status === 200).map((s) => s.end));
      const after = samples.filter((s) => s.start > firstSuccess);
      expect(after.length).toBeGreaterThanOrEqual(20);
      expect(after.filter((s) => s.status !== 200).map(describeSample)).toEqual([]);
      const health = await t!.http.get('/health');
      expect(health.status).toBe(200);
      expect(health.body).toEqual({ status: 'ok', database: 'up' });
    });

    it('loses no session and half-rotates none: each row holds one of the client’s tokens or its successor, and the client can go on refreshing', async () => {
      // The scenario produced outcomes the clients did not learn, of both kinds.
      const exercised = clients.map((c) => ({ client: c.name, waiting: c.waiting, lost: c.lostResponses > 0, unknown: c.unknown.length > 0 }));
      expect(exercised).toEqual(
        clients.map((c) => ({ client: c.name, waiting: c.mode !== 'retry', lost: c.mode !== 'fail-and-wait', unknown: true })),
      );
      expect(loginsBeforeOutage.length).toBeGreaterThan(0);

      const everyone = [...clients, ...loginsBeforeOutage];
      const rows = await db.asOwner(async (c) => (await c.query('select id, refresh_token_hash, is_revoked from sessions')).rows);
      const byId = new Map(rows.map((r) => [r.id as string, r]));
      // Nothing in this run may revoke a session (no reuse was ever detected).
      expect(rows.filter((r) => r.is_revoked).map((r) => r.id)).toEqual([]);

      for (const c of everyone) {
        const row = byId.get(c.sessionId);
        expect({ client: c.name, exists: row !== undefined }).toEqual({ client: c.name, exists: true });
        // The row's hash is that of exactly one token the client has or could get: one it sent in a
        // refresh with an unknown outcome, the last it got a 200 for, or the successor of one of those.
        const candidates = [...new Set([c.held.refreshToken, ...c.unknown])];
        const reachable = [...new Set([...candidates, ...candidates.map(successorOf)])];
        const matching = reachable.filter((token) => sha256(token) === row!.refresh_token_hash);
        expect({ client: c.name, matching: matching.length }).toEqual({ client: c.name, matching: 1 });
        // More precisely: the client only ever sends the token it holds, so the row holds that token
        // (the refresh did not happen) or its successor (it did) — and the latter only if the client
        // sent that token in a refresh whose outcome it did not learn.
        const [token] = matching;
        const rotatedUnseen = token === successorOf(c.held.refreshToken);
        expect({ client: c.name, token: token === c.held.refreshToken || rotatedUnseen }).toEqual({ client: c.name, token: true });
        if (rotatedUnseen) expect(c.unknown).toContain(c.held.refreshToken);
        if (c.mode === 'drop-and-wait') expect({ client: c.name, rotatedUnseen }).toEqual({ client: c.name, rotatedUnseen: true });

        // At least one of the client's candidates refreshes: the newest, the one it holds (an older one
        // would rightly count as reuse). It returns the successor either way, and the chain goes on.
        const res = await t!.http.post('/auth/refresh').send({ refreshToken: c.held.refreshToken });
        expect({ client: c.name, status: res.status }).toEqual({ client: c.name, status: 200 });
        expect(res.body.refreshToken).toBe(successorOf(c.held.refreshToken));
        expect(res.body.sessionId).toBe(c.sessionId);
        const next = await t!.http.post('/auth/refresh').send({ refreshToken: res.body.refreshToken });
        expect({ client: c.name, status: next.status }).toEqual({ client: c.name, status: 200 });
        await t!.http.get('/auth/me').set(...bearer(next.body)).expect(200);
      }
    });
  });

  describe('runtime backends killed (pg_terminate_backend) in the middle of requests, and while idle', () => {
    it('answers a refresh whose backend is killed while it waits on the session row with the JSON 503, leaves the row exactly as it was, and the next requests succeed', async () => {
      const http = t!.http;
      const tokens = await login(http, users[0], { deviceName: 'killed-backend' });
      const before = await sessionRow(tokens.sessionId);
      const locker = new Client({ connectionString: db.ownerUrl });
      await locker.connect();
      try {
        // The owner holds the weakest row lock that still makes the refresh's own `select … for update`
        // wait (FOR KEY SHARE): a plain UPDATE of the row is not blocked by it, so a rotation written
        // outside the refresh's locked transaction would get through and show in the row below.
        await locker.query('begin');
        await locker.query('select 1 from sessions where id = $1 for key share', [tokens.sessionId]);
        const pending = send('killed', 'refresh', http.post('/auth/refresh').send({ refreshToken: tokens.refreshToken }));
        const blocked = await waitFor('the refresh to wait on the row lock', async () => {
          const found = await lockWaiters();
          return found.length === 1 ? found[0] : undefined;
        });
        const killedAt = Date.now();
        const { rows } = await locker.query<{ ok: boolean }>('select pg_terminate_backend($1) as ok', [blocked.pid]);
        expect(rows[0].ok).toBe(true);
        const { sample } = await pending;
        expect(sample.status).toBe(503);
        expect(sample.contentType).toMatch(/application\/json/);
        expect(sample.body).toEqual(UNAVAILABLE);
        expect(sample.text).not.toMatch(DRIVER_TEXT);
        expect(sample.end - killedAt).toBeLessThan(FAIL_FAST_MARGIN_MS);
      } finally {
        await locker.query('rollback').catch(() => undefined);
        await locker.end();
      }

      // Not half-rotated: the refresh did not happen at all (hash, last use, expiry unchanged).
      expect(await sessionRow(tokens.sessionId)).toEqual(before);

      // The next requests succeed, on more requests than the pool has connections: the dead
      // connection is not handed out again.
      const burst = await Promise.all(Array.from({ length: POOL_MAX * 3 }, () => http.get('/auth/me').set(...bearer(tokens))));
      expect(burst.map((r) => r.status)).toEqual(Array(POOL_MAX * 3).fill(200));
      const rotated = await http.post('/auth/refresh').send({ refreshToken: tokens.refreshToken });
      expect(rotated.status).toBe(200);
      expect(rotated.body.refreshToken).toBe(successorOf(tokens.refreshToken));
      await http.get('/sessions').set(...bearer(rotated.body)).expect(200);
    });

    it('answers a refresh whose backend is killed at its COMMIT, after the rotation was written, with the JSON 503 — and the rotation is rolled back whole', async () => {
      const http = t!.http;
      const tokens = await login(http, users[1], { deviceName: 'killed-at-commit' });
      const before = await sessionRow(tokens.sessionId);
      const holder = new Client({ connectionString: db.ownerUrl });
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
          const found = await db.asOwner((c) => runtimeBackends(c, `wait_event_type = 'Lock' and state = 'active' and query ilike 'commit%'`));
          return found.length === 1 ? found[0] : undefined;
        });
        const killedAt = Date.now();
        await db.asOwner((c) => c.query('select pg_terminate_backend($1)', [blocked.pid]));
        const { sample } = await pending;
        expect(sample.status).toBe(503);
        expect(sample.contentType).toMatch(/application\/json/);
        expect(sample.body).toEqual(UNAVAILABLE);
        expect(sample.text).not.toMatch(DRIVER_TEXT);
        expect(sample.end - killedAt).toBeLessThan(FAIL_FAST_MARGIN_MS);
      } finally {
        await holder.query('select pg_advisory_unlock_all()').catch(() => undefined);
        await holder.query('drop trigger if exists nra_test_hold_rotation on sessions').catch(() => undefined);
        await holder.query('drop function if exists nra_test_hold_rotation()').catch(() => undefined);
        await holder.end();
      }

      // Nothing of the rotation survived: hash, last use and expiry are as before, and the old token
      // (the only one the client has) still refreshes.
      expect(await sessionRow(tokens.sessionId)).toEqual(before);
      const rotated = await http.post('/auth/refresh').send({ refreshToken: tokens.refreshToken });
      expect(rotated.status).toBe(200);
      expect(rotated.body.refreshToken).toBe(successorOf(tokens.refreshToken));
      await http.get('/auth/me').set(...bearer(rotated.body)).expect(200);
    });

    it('answers with the JSON 503 when the backend dies while the transaction’s BEGIN is in flight, and the next requests succeed', async () => {
      const http = t!.http;
      const tokens = await login(http, users[3], { deviceName: 'begin-killed' });
      // Fill the pool, so the next request reuses an idle pooled connection.
      await Promise.all(Array.from({ length: POOL_MAX * 2 }, () => http.get('/auth/me').set(...bearer(tokens)).expect(200)));
      const pids = (await db.asOwner((c) => runtimeBackends(c))).map((b) => b.pid);
      expect(pids.length).toBeGreaterThan(0);
      const pg = (await t!.app.get(EntityManager).getConnection().getNativeClient()) as { totalCount: number; idleCount: number };
      const pool = { numUsed: (): number => pg.totalCount - pg.idleCount };
      // Freeze those backends (SIGSTOP; the test owns this server), so the request's BEGIN reaches
      // one that does not answer; then terminate them and let them go: the BEGIN fails (57P01).
      for (const pid of pids) process.kill(pid, 'SIGSTOP');
      let pending: ReturnType<typeof send> | undefined;
      try {
        pending = send('begin-killed', 'me', http.get('/auth/me').set(...bearer(tokens)));
        await waitFor('the request to take a pooled connection', async () => (pool.numUsed() > 0 ? true : undefined));
        await sleep(100); // BEGIN written to the frozen backend's socket
        await db.asOwner((c) => c.query('select pg_terminate_backend(pid) from unnest($1::int[]) as pid', [pids]));
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
      expect(sample.status).toBe(503);
      expect(sample.contentType).toMatch(/application\/json/);
      expect(sample.body).toEqual(UNAVAILABLE);
      expect(sample.text).not.toMatch(DRIVER_TEXT);

      // Once the killed backends are gone, none of their connections is handed out again.
      await db.asOwner((c) => waitFor('the terminated backends to exit', async () => ((await runtimeBackends(c)).length === 0 ? true : undefined)));
      await sleep(100); // let the client sockets see the close
      const after = await Promise.all(Array.from({ length: POOL_MAX * 2 }, () => http.get('/sessions').set(...bearer(tokens))));
      expect(after.map((r) => r.status)).toEqual(Array(POOL_MAX * 2).fill(200));
    });

    it('serves the next requests with 200 after every pooled runtime connection is terminated while idle', async () => {
      const http = t!.http;
      const tokens = await login(http, users[1], { deviceName: 'idle-killed' });
      // Fill the pool, then kill all its connections while they sit idle.
      await Promise.all(Array.from({ length: POOL_MAX * 2 }, () => http.get('/auth/me').set(...bearer(tokens)).expect(200)));
      await db.asOwner(async (c) => {
        const idle = await runtimeBackends(c);
        expect(idle.length).toBeGreaterThan(0);
        await c.query('select pg_terminate_backend(pid) from unnest($1::int[]) as pid', [idle.map((b) => b.pid)]);
        await waitFor('the terminated backends to exit', async () => ((await runtimeBackends(c)).length === 0 ? true : undefined));
      });
      await sleep(100); // let the client sockets see the close
      const after = await Promise.all(Array.from({ length: POOL_MAX * 2 }, () => http.get('/sessions').set(...bearer(tokens))));
      expect(after.map((r) => r.status)).toEqual(Array(POOL_MAX * 2).fill(200));
    });
  });

  describe('a refresh the client gave up on while it was in flight', () => {
    it('either happened or not: the old token, sent again within the grace window, returns the successor, and the session lives on', async () => {
      const http = t!.http;
      const tokens = await login(http, users[2], { deviceName: 'gave-up' });
      const locker = new Client({ connectionString: db.ownerUrl });
      await locker.connect();
      try {
        await locker.query('begin');
        await locker.query('select 1 from sessions where id = $1 for key share', [tokens.sessionId]);
        // The client gives up after 300 ms, while the server still waits on the row lock.
        const pending = http
          .post('/auth/refresh')
          .send({ refreshToken: tokens.refreshToken })
          .timeout(300)
          .then(
            (res) => ({ status: res.status as number | 'gave up' }),
            (err: { timeout?: unknown }) => ({ status: (err.timeout !== undefined ? 'gave up' : 'network') as number | 'gave up' | 'network' }),
          );
        await waitFor('the refresh to wait on the row lock', async () => ((await lockWaiters()).length === 1 ? true : undefined));
        expect(await pending).toEqual({ status: 'gave up' });
      } finally {
        // Releasing the lock lets the abandoned refresh run to its commit on the server.
        await locker.query('rollback').catch(() => undefined);
        await locker.end();
      }
      const successor = successorOf(tokens.refreshToken);
      // The refresh happened, though the client never learned it (wait for the server to finish it,
      // so the replay below is not racing it).
      await waitFor('the abandoned refresh to commit', async () =>
        (await sessionRow(tokens.sessionId))?.refresh_token_hash === sha256(successor) ? true : undefined,
      );
      await waitFor('the runtime backends to be idle', () =>
        db.asOwner(async (c) => ((await runtimeBackends(c, `state <> 'idle'`)).length === 0 ? true : undefined)),
      );

      const outcome = await send('gave-up', 'refresh', http.post('/auth/refresh').send({ refreshToken: tokens.refreshToken }));
      expect(outcome.sample.status).toBe(200);
      expect(outcome.res!.body.refreshToken).toBe(successor);
      const next = await http.post('/auth/refresh').send({ refreshToken: successor });
      expect(next.status).toBe(200);
      expect((await sessionRow(tokens.sessionId))?.is_revoked).toBe(false);
    });
  });
});
