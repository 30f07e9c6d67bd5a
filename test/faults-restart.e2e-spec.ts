import { isDeepStrictEqual } from 'node:util';
import { bearer, login, TestUser, Tokens } from './support/factories';
import {
  DRIVER_TEXT,
  FAIL_FAST_BOUND_MS,
  FaultsApp,
  Op,
  POLL_INTERVAL_MS,
  POOL_MAX,
  Sample,
  send,
  sha256,
  sleep,
  startFaultsApp,
  UNAVAILABLE,
} from './support/fault-harness';

/**
 * Faults: the PostgreSQL server (one this file owns, see support/fault-harness.ts) is stopped with a
 * fast shutdown and started again while several users' requests are flowing: requests fail fast with
 * the JSON 503, the service recovers by itself, and no refresh is half done.
 */

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

describe('PostgreSQL restarted (fast shutdown) under continuous traffic of several users', () => {
  let f: FaultsApp;
  beforeAll(async () => {
    f = await startFaultsApp('faults_restart', 4);
  }, 120_000);
  afterAll(() => f?.close(), 60_000);

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
    const http = f.http;
    const pg = f.pg!;
    const modes: ClientSession['mode'][] = ['retry', 'retry', 'retry', 'retry', 'drop-and-wait', 'drop-and-wait', 'fail-and-wait', 'fail-and-wait'];
    for (const [i, mode] of modes.entries()) {
      const user = f.users[i % f.users.length];
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
        const user = f.users[i % f.users.length];
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
    const warm = await login(http, f.users[0], { deviceName: 'warm-up' });
    await http.post('/auth/refresh').send({ refreshToken: warm.refreshToken }).expect(200);
    await http.get('/sessions').set(...bearer(warm)).expect(200);
    await Promise.all(Array.from({ length: POOL_MAX * 2 }, () => http.get('/auth/me').set(...bearer(warm)).expect(200)));
    const workers = [...clients.map((c, i) => sessionWorker(c, i)), loginWorker()];
    const everyoneSucceededSince = (since: number): boolean =>
      [...clients.map((c) => c.name), 'login'].every((w) => samples.some((s) => s.worker === w && s.status === 200 && s.start >= since));
    try {
      await sleep(WARMUP_MS);
      stopBegin = Date.now();
      await pg.stop();
      stopEnd = Date.now();
      await sleep(OUTAGE_MS);
      startBegin = Date.now();
      await pg.start();
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
      if (!pg.running) await pg.start(); // leave a server for the tests below even if this failed
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
    const health = await f.http.get('/health');
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
    const rows = await f.db.asOwner(async (c) => (await c.query('select id, refresh_token_hash, is_revoked from sessions')).rows);
    const byId = new Map(rows.map((r) => [r.id as string, r]));
    // Nothing in this run may revoke a session (no reuse was ever detected).
    expect(rows.filter((r) => r.is_revoked).map((r) => r.id)).toEqual([]);

    for (const c of everyone) {
      const row = byId.get(c.sessionId);
      expect({ client: c.name, exists: row !== undefined }).toEqual({ client: c.name, exists: true });
      // The row's hash is that of exactly one token the client has or could get: one it sent in a
      // refresh with an unknown outcome, the last it got a 200 for, or the successor of one of those.
      const candidates = [...new Set([c.held.refreshToken, ...c.unknown])];
      const reachable = [...new Set([...candidates, ...candidates.map(f.successorOf)])];
      const matching = reachable.filter((token) => sha256(token) === row!.refresh_token_hash);
      expect({ client: c.name, matching: matching.length }).toEqual({ client: c.name, matching: 1 });
      // More precisely: the client only ever sends the token it holds, so the row holds that token
      // (the refresh did not happen) or its successor (it did) — and the latter only if the client
      // sent that token in a refresh whose outcome it did not learn.
      const [token] = matching;
      const rotatedUnseen = token === f.successorOf(c.held.refreshToken);
      expect({ client: c.name, token: token === c.held.refreshToken || rotatedUnseen }).toEqual({ client: c.name, token: true });
      if (rotatedUnseen) expect(c.unknown).toContain(c.held.refreshToken);
      if (c.mode === 'drop-and-wait') expect({ client: c.name, rotatedUnseen }).toEqual({ client: c.name, rotatedUnseen: true });

      // At least one of the client's candidates refreshes: the newest, the one it holds (an older one
      // would rightly count as reuse). It returns the successor either way, and the chain goes on.
      const res = await f.http.post('/auth/refresh').send({ refreshToken: c.held.refreshToken });
      expect({ client: c.name, status: res.status }).toEqual({ client: c.name, status: 200 });
      expect(res.body.refreshToken).toBe(f.successorOf(c.held.refreshToken));
      expect(res.body.sessionId).toBe(c.sessionId);
      const next = await f.http.post('/auth/refresh').send({ refreshToken: res.body.refreshToken });
      expect({ client: c.name, status: next.status }).toEqual({ client: c.name, status: 200 });
      await f.http.get('/auth/me').set(...bearer(next.body)).expect(200);
    }
  });
});
