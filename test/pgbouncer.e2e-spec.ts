import { randomBytes } from 'node:crypto';
import { Agent, request } from 'node:http';
import { AddressInfo } from 'node:net';
import { Client } from 'pg';
import { RlsContext } from '../src/database/rls.context';
import { findPgBouncer, PgBouncer, startPgBouncer } from './support/pgbouncer';
import { createTestApp, TestApp } from './support/test-app';
import { createTestDatabase, TEST_APP_PASSWORD, TEST_APP_USER, TestDatabase } from './support/test-database';
import { prng } from './support/prng';

/**
 * Two instances of the service share one database through a private PgBouncer in transaction
 * pooling mode with a tiny server pool, so consecutive transactions of different users — from
 * either instance — run on the same few PostgreSQL connections. The RLS identity is set with
 * `set_config(..., true)` inside each request's transaction; this proves it never outlives it.
 *
 * Uses Debian's PgBouncer (`apt-get install -y pgbouncer`, or PGBOUNCER_PATH); skipped locally when
 * it is missing, but fails under CI=true.
 */
const PGBOUNCER = findPgBouncer();
const IN_CI = process.env.CI === 'true';

if (!PGBOUNCER && !IN_CI) {
  console.warn(
    'Skipping test/pgbouncer.e2e-spec.ts: PgBouncer is not installed (/usr/sbin/pgbouncer). ' +
      'Install it with `apt-get install -y pgbouncer` (Debian/Ubuntu). In CI (CI=true) this suite fails instead of skipping.',
  );
}
// In CI a missing PgBouncer must fail the run, so the suite is only ever skipped locally.
const describeWithPgBouncer = PGBOUNCER || IN_CI ? describe : describe.skip;

const SERVER_POOL = 3;
const APP_POOL_MAX = 4;
const USERS = 8;
const SESSIONS_PER_USER = 2;
const REQUESTS = 10_000;
const IN_FLIGHT = 32;
const SEED = 0x0b0c_e5;
const STATEMENT_TIMEOUT_MS = 5000;

interface SessionState {
  id: string;
  accessToken: string;
  refreshToken: string;
  refreshing: boolean;
}

interface UserState {
  index: number;
  id: string;
  email: string;
  /** Every device name this user ever sets starts with it, so a foreign row is recognisable. */
  marker: string;
  sessions: SessionState[];
}

interface Reply {
  status: number;
  body: any;
}


const NOT_FOUND = { statusCode: 404, message: 'Session not found', error: 'Not Found' };

describeWithPgBouncer('two service instances behind PgBouncer in transaction pooling mode', () => {
  let db: TestDatabase | undefined;
  let bouncer: PgBouncer | undefined;
  const apps: TestApp[] = [];
  const ports: number[] = [];
  // Keep-alive connections, closed in afterAll (a fresh TCP connection per request only costs time).
  const agent = new Agent({ keepAlive: true, maxSockets: IN_FLIGHT });
  const users: UserState[] = [];
  const statuses = new Map<number, number>();
  const problems: string[] = [];
  let sent = 0;
  const probe = { runs: 0, leaks: [] as string[], pids: new Set<number>() };
  const watch = { samples: 0, maxServerBackends: 0, backendPids: new Set<number>(), maxClients: 0, maxServers: 0 };
  let stats: { xacts: number; queries: number } = { xacts: 0, queries: 0 };

  function call(app: number, method: string, path: string, accessToken?: string, body?: unknown): Promise<Reply> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string | number> = {};
    if (accessToken) headers.authorization = `Bearer ${accessToken}`;
    if (payload !== undefined) Object.assign(headers, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: ports[app], method, path, headers, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            parsed = text;
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      });
      req.on('error', reject);
      req.end(payload);
    });
  }

  beforeAll(async () => {
    if (!PGBOUNCER) throw new Error('PgBouncer is required in CI but is not installed: apt-get install -y pgbouncer');
    db = await createTestDatabase();
    bouncer = await startPgBouncer({
      binary: PGBOUNCER,
      serverUrl: db.ownerUrl,
      database: db.name,
      users: { [TEST_APP_USER]: TEST_APP_PASSWORD },
      poolSize: SERVER_POOL,
    });
    // LOG_LEVEL=warn: 10,000 request log lines would only cost time here.
    const env = {
      DATABASE_APP_URL: bouncer.url(TEST_APP_USER),
      DATABASE_POOL_MAX: String(APP_POOL_MAX),
      DATABASE_STATEMENT_TIMEOUT_MS: String(STATEMENT_TIMEOUT_MS),
      LOG_LEVEL: 'warn',
    };
    for (let i = 0; i < 2; i++) {
      const app = await createTestApp({ db, env });
      apps.push(app);
      ports.push((app.app.getHttpServer().address() as AddressInfo).port);
    }

    for (let u = 0; u < USERS; u++) {
      const marker = `u${u}-${randomBytes(3).toString('hex')}`;
      const email = `pgb-${marker}@example.test`;
      const password = `pw-${randomBytes(6).toString('hex')}`;
      const reg = await call(u % 2, 'POST', '/auth/register', undefined, { email, password });
      if (reg.status !== 201) throw new Error(`register: ${reg.status} ${JSON.stringify(reg.body)}`);
      const sessions: SessionState[] = [];
      for (let s = 0; s < SESSIONS_PER_USER; s++) {
        const res = await call((u + s) % 2, 'POST', '/auth/login', undefined, { email, password, deviceName: `${marker}-login-${s}` });
        if (res.status !== 200) throw new Error(`login: ${res.status} ${JSON.stringify(res.body)}`);
        sessions.push({ id: res.body.sessionId, accessToken: res.body.accessToken, refreshToken: res.body.refreshToken, refreshing: false });
      }
      users.push({ index: u, id: reg.body.id, email, marker, sessions });
    }

    await runLoad();
    stats = await bouncer.admin(async (c) => {
      const row = (await c.query('SHOW STATS')).rows.find((r) => r.database === db!.name);
      return { xacts: Number(row?.total_xact_count ?? 0), queries: Number(row?.total_query_count ?? 0) };
    });
  }, 300_000);

  afterAll(async () => {
    // Each step runs even when an earlier one throws, so nothing is left running.
    agent.destroy();
    for (const app of apps) await app.close().catch((e) => console.error('closing an app failed', e));
    await bouncer?.stop().catch((e) => console.error('stopping PgBouncer failed', e));
    await db?.drop().catch((e) => console.error('dropping the database failed', e));
  });

  /** One request of the mix; checks that its answer is about the caller only. */
  async function one(i: number, random: () => number): Promise<void> {
    const app = i % 2;
    const user = users[Math.floor(random() * users.length)];
    const session = user.sessions[Math.floor(random() * user.sessions.length)];
    const others = users.filter((u) => u !== user);
    const other = others[Math.floor(random() * others.length)];
    const foreign = other.sessions[Math.floor(random() * other.sessions.length)];
    const mine = new Set(user.sessions.map((s) => s.id));
    const r = random();
    const where = `#${i} app ${app} user ${user.index}`;
    const fail = (what: string, reply: Reply): void => {
      problems.push(`${where} ${what}: ${reply.status} ${JSON.stringify(reply.body).slice(0, 300)}`);
    };
    const ownName = (name: unknown): boolean => typeof name === 'string' && name.startsWith(`${user.marker}-`);

    let reply: Reply;
    if (r < 0.22) {
      reply = await call(app, 'GET', '/sessions', session.accessToken);
      const list = reply.body as { id: string; current: boolean; deviceName: string }[];
      const ok =
        reply.status === 200 &&
        Array.isArray(list) &&
        list.length === SESSIONS_PER_USER &&
        list.every((s) => mine.has(s.id) && ownName(s.deviceName) && s.current === (s.id === session.id));
      if (!ok) fail('GET /sessions', reply);
    } else if (r < 0.37) {
      const target = user.sessions[Math.floor(random() * user.sessions.length)];
      reply = await call(app, 'GET', `/sessions/${target.id}`, session.accessToken);
      if (reply.status !== 200 || reply.body.id !== target.id || !ownName(reply.body.deviceName) || reply.body.current !== (target.id === session.id)) {
        fail('GET own /sessions/:id', reply);
      }
    } else if (r < 0.52) {
      reply = await call(app, 'GET', `/sessions/${foreign.id}`, session.accessToken);
      if (reply.status !== 404 || JSON.stringify(reply.body) !== JSON.stringify(NOT_FOUND)) fail("GET another user's /sessions/:id", reply);
    } else if (r < 0.67) {
      const target = user.sessions[Math.floor(random() * user.sessions.length)];
      const deviceName = `${user.marker}-${i}`;
      reply = await call(app, 'PATCH', `/sessions/${target.id}`, session.accessToken, { deviceName });
      if (reply.status !== 200 || reply.body.id !== target.id || reply.body.deviceName !== deviceName) fail('PATCH own /sessions/:id', reply);
    } else if (r < 0.74) {
      reply = await call(app, 'PATCH', `/sessions/${foreign.id}`, session.accessToken, { deviceName: `${user.marker}-intruder-${i}` });
      if (reply.status !== 404 || JSON.stringify(reply.body) !== JSON.stringify(NOT_FOUND)) fail("PATCH another user's /sessions/:id", reply);
    } else if (r < 0.96 || session.refreshing) {
      reply = await call(app, 'GET', '/auth/me', session.accessToken);
      if (reply.status !== 200 || reply.body.id !== user.id || reply.body.email !== user.email) fail('GET /auth/me', reply);
    } else {
      // One refresh at a time per session (its client follows its own token chain).
      session.refreshing = true;
      try {
        reply = await call(app, 'POST', '/auth/refresh', undefined, { refreshToken: session.refreshToken });
        if (reply.status !== 200 || reply.body.sessionId !== session.id) fail('POST /auth/refresh', reply);
        else {
          session.refreshToken = reply.body.refreshToken;
          session.accessToken = reply.body.accessToken;
        }
      } finally {
        session.refreshing = false;
      }
    }
    statuses.set(reply.status, (statuses.get(reply.status) ?? 0) + 1);
  }

  /**
   * Asks PgBouncer, as the runtime role and outside any transaction, what a pooled server connection
   * carries: an RLS identity that survived its transaction would show up here.
   */
  async function probeLoop(done: () => boolean): Promise<void> {
    const client = new Client({ connectionString: bouncer!.url(TEST_APP_USER) });
    await client.connect();
    try {
      while (!done()) {
        const { rows } = await client.query<{ v: string | null; pid: number }>(
          "select current_setting('app.current_user_id', true) as v, pg_backend_pid() as pid",
        );
        probe.runs++;
        probe.pids.add(rows[0].pid);
        if (rows[0].v !== null && rows[0].v !== '') probe.leaks.push(`backend ${rows[0].pid} carried app.current_user_id=${rows[0].v}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    } finally {
      await client.end();
    }
  }

  /** Samples, as the owner and on the admin console, how many server and client connections exist. */
  async function watchLoop(done: () => boolean): Promise<void> {
    const owner = new Client({ connectionString: db!.ownerUrl });
    await owner.connect();
    await bouncer!.admin(async (admin) => {
      while (!done()) {
        const { rows } = await owner.query<{ pid: number }>('select pid from pg_stat_activity where datname = $1 and usename = $2', [db!.name, TEST_APP_USER]);
        watch.maxServerBackends = Math.max(watch.maxServerBackends, rows.length);
        for (const r of rows) watch.backendPids.add(r.pid);
        const pools = await admin.query('SHOW POOLS');
        const pool = pools.rows.find((p) => p.database === db!.name && p.user === TEST_APP_USER);
        if (pool) {
          const n = (k: string): number => Number(pool[k] ?? 0);
          watch.maxClients = Math.max(watch.maxClients, n('cl_active') + n('cl_waiting'));
          watch.maxServers = Math.max(watch.maxServers, n('sv_active') + n('sv_idle') + n('sv_used') + n('sv_tested') + n('sv_login'));
        }
        watch.samples++;
        await new Promise((r) => setTimeout(r, 200));
      }
    }).finally(() => owner.end());
  }

  async function runLoad(): Promise<void> {
    const random = prng(SEED);
    let finished = false;
    const done = (): boolean => finished;
    const side = Promise.all([probeLoop(done), watchLoop(done)]);
    try {
      const worker = async (): Promise<void> => {
        while (sent < REQUESTS) {
          const i = sent++;
          try {
            await one(i, random);
          } catch (err) {
            problems.push(`#${i}: ${(err as Error).message}`);
            statuses.set(0, (statuses.get(0) ?? 0) + 1);
          }
        }
      };
      await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
    } finally {
      finished = true;
      await side;
    }
  }

  it('answers all 10,000 interleaved requests of both instances without a 5xx', () => {
    const total = [...statuses.values()].reduce((a, b) => a + b, 0);
    expect(total).toBe(REQUESTS);
    const errors = [...statuses.entries()].filter(([status]) => status >= 500 || status === 0);
    expect(errors).toEqual([]);
  });

  it("shows each caller only its own rows: its sessions, its account, and 404 for other users' session ids", () => {
    expect({ count: problems.length, first: problems.slice(0, 10) }).toEqual({ count: 0, first: [] });
    expect(statuses.get(200)).toBeGreaterThan(REQUESTS * 0.6);
    expect(statuses.get(404)).toBeGreaterThan(REQUESTS * 0.15);
  });

  it('never leaves a user id on a pooled server connection: the RLS setting is empty outside transactions', () => {
    expect(probe.leaks.slice(0, 10)).toEqual([]);
    expect(probe.runs).toBeGreaterThan(200);
    // The probe shared the pool's server connections with the apps' transactions.
    expect(probe.pids.size).toBeGreaterThan(1);
    expect(probe.pids.size).toBeLessThanOrEqual(SERVER_POOL);
  });

  it('really pooled: every transaction of both instances went through at most 3 server connections', () => {
    expect(watch.samples).toBeGreaterThan(5);
    // Both apps' pools (4 connections each) were PgBouncer clients at once ...
    expect(watch.maxClients).toBeGreaterThanOrEqual(2 * APP_POOL_MAX);
    // ... served by no more than SERVER_POOL PostgreSQL backends of the runtime role, ever.
    expect(watch.maxServers).toBeLessThanOrEqual(SERVER_POOL);
    expect(watch.maxServerBackends).toBeGreaterThan(0);
    expect(watch.maxServerBackends).toBeLessThanOrEqual(SERVER_POOL);
    expect(new Set([...watch.backendPids, ...probe.pids]).size).toBeLessThanOrEqual(SERVER_POOL);
    // Every request ran at least one transaction through PgBouncer (besides the probe's).
    expect(stats.xacts - probe.runs).toBeGreaterThanOrEqual(REQUESTS);
  });

  it('applies DATABASE_STATEMENT_TIMEOUT_MS inside each transaction, as PgBouncer refuses it as a startup parameter', async () => {
    for (const app of apps) {
      const rows = await app.app
        .get(RlsContext)
        .runAsUser(users[0].id, (em) =>
          em.getConnection().execute<{ timeout: string; user: string }[]>(
            "select current_setting('statement_timeout') as timeout, current_setting('app.current_user_id') as user",
            [],
            'all',
            em.getTransactionContext(),
          ),
        );
      expect(rows).toEqual([{ timeout: `${STATEMENT_TIMEOUT_MS / 1000}s`, user: users[0].id }]);
    }
  });

  it("leaves every session row named only by its owner (no cross-user rename got through) and none revoked", async () => {
    const rows = await db!.asOwner(
      async (c) => (await c.query<{ id: string; user_id: string; device_name: string; is_revoked: boolean }>('select id, user_id, device_name, is_revoked from sessions')).rows,
    );
    expect(rows).toHaveLength(USERS * SESSIONS_PER_USER);
    const owner = new Map(users.map((u) => [u.id, u]));
    const wrong = rows.filter((r) => r.is_revoked || !owner.get(r.user_id) || !r.device_name.startsWith(`${owner.get(r.user_id)!.marker}-`) || r.device_name.includes('intruder'));
    expect(wrong).toEqual([]);
  });
});
