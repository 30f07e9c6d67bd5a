import { createHash } from 'node:crypto';
import { SessionsRepository } from '../src/sessions/sessions.repository';
import { newUser, TestUser, Tokens } from './support/factories';
import { refreshClient, RefreshClient, transportEnv, TRANSPORTS } from './support/refresh-transport';
import { createTestApp, TestApp } from './support/test-app';
import { prng } from './support/prng';

/**
 * Many users on several devices hammer one instance with overlapping refreshes (some of them the
 * same token twice at once, like two tabs sharing storage), session lists, revocations of their
 * other devices and logouts, in waves of concurrent requests. The client side keeps what a real
 * client would: per session its newest refresh and access token and whether it still believes the
 * session alive. Afterwards the database (read as the owner) must agree with the clients exactly.
 */

const USERS = 50;
const DEVICES = 3;
const WAVES = 10;
const SEED = 0x5eed_2026;

/** What the database stores for a refresh token (the same as RefreshTokenCodec.hash). */
const sha256 = (token: string): string => createHash('sha256').update(token).digest('hex');

/** The generation a refresh token carries (payload: user id ‖ session id ‖ uint32 generation). */
const generationOf = (token: string): number => Buffer.from(token.split('.')[0], 'base64url').readUInt32BE(32);


type Action = 'refresh' | 'double-refresh' | 'refresh-and-list' | 'list' | 'revoke-other' | 'logout';
type Revocation = 'user_revoked' | 'logout';

interface Device {
  user: TestUser;
  userIndex: number;
  sessionId: string;
  /** What the client holds: its newest tokens for this session. */
  accessToken: string;
  refreshToken: string;
  /** The client's belief: it has not been told (401, or its own logout) that the session ended. */
  believesAlive: boolean;
  /** Waves in which a revocation of this session was sent, and of which kind. */
  revocationsSent: { wave: number; kind: Revocation }[];
  /** The wave in which a revocation of this session was answered 204 (it was committed by then). */
  confirmedRevokedInWave?: number;
  /** Every refresh token the server handed out for this session (login's included). */
  issued: Set<string>;
}

interface Outcome {
  wave: number;
  action: string;
  status: number;
}

// Once with the refresh token in JSON bodies, once in the refresh-token cookie.
describe.each(TRANSPORTS)('concurrent refreshes, session lists, revocations and logouts of 50 users on 3 devices each (%s transport)', (transport) => {
  let t: TestApp;
  let client: RefreshClient;
  let devices: Device[] = [];
  const outcomes: Outcome[] = [];
  const problems: string[] = [];
  let rotations = 0;

  beforeAll(async () => {
    // A grace window far longer than any wave, so that the second tab's repeat is always "just
    // rotated" however slow a loaded machine makes the wave.
    t = await createTestApp({ env: { REFRESH_GRACE_SECONDS: '120', ...transportEnv(transport) } });
    client = refreshClient(t.http, transport);

    const users: TestUser[] = [];
    for (let i = 0; i < USERS; i += 10) {
      users.push(...(await Promise.all(Array.from({ length: Math.min(10, USERS - i) }, () => newUser(t.http)))));
    }
    const logins = await Promise.all(
      users.flatMap((user, userIndex) =>
        Array.from({ length: DEVICES }, async (_, d): Promise<Device> => {
          const tokens: Tokens = await client.login(user, { deviceName: `user ${userIndex} device ${d}` });
          return {
            user,
            userIndex,
            sessionId: tokens.sessionId,
            accessToken: tokens.accessToken,
            refreshToken: tokens.refreshToken,
            believesAlive: true,
            revocationsSent: [],
            issued: new Set([tokens.refreshToken]),
          };
        }),
      ),
    );
    devices = logins;

    // Open the whole connection pool first, so the waves really overlap in the database.
    await Promise.all(devices.slice(0, 30).map((d) => t.http.get('/auth/me').set('Authorization', `Bearer ${d.accessToken}`).expect(200)));

    const rotate = jest.spyOn(SessionsRepository.prototype, 'rotate');
    try {
      await runWaves();
    } finally {
      rotations = rotate.mock.calls.length;
      rotate.mockRestore();
    }
  }, 120_000);

  afterAll(() => t?.close());

  const siblingsOf = (d: Device): Device[] => devices.filter((o) => o.userIndex === d.userIndex && o !== d);
  const revocationSentBy = (d: Device, wave: number): boolean => d.revocationsSent.some((r) => r.wave <= wave);

  function record(wave: number, action: string, status: number): void {
    outcomes.push({ wave, action, status });
  }

  /** A response status the scenario allows; anything else is a problem (with context). */
  function expectStatus(wave: number, action: string, d: Device, status: number, allowed: number[]): boolean {
    record(wave, action, status);
    if (allowed.includes(status)) return true;
    problems.push(`wave ${wave} ${action} by session ${d.sessionId} (user ${d.userIndex}): status ${status}, allowed ${allowed.join('/')}`);
    return false;
  }

  /**
   * A session whose revocation was confirmed (204) in an earlier wave must refuse everything (401).
   * 401 is allowed otherwise only once a revocation of it has been sent (this wave or earlier).
   */
  function allowedWhenRevoked(d: Device, wave: number, ok: number[]): number[] {
    if (d.confirmedRevokedInWave !== undefined && d.confirmedRevokedInWave < wave) return [401];
    return revocationSentBy(d, wave) ? [...ok, 401] : ok;
  }

  async function refresh(wave: number, d: Device, presented: string, label: string): Promise<string | undefined> {
    const res = await client
      .refresh(presented)
      .catch((err: Error) => ({ status: 0, body: { error: err.message } }) as { status: number; body: Record<string, unknown> });
    if (!expectStatus(wave, label, d, res.status, allowedWhenRevoked(d, wave, [200]))) return undefined;
    if (res.status === 401) {
      d.believesAlive = false;
      return undefined;
    }
    const body = res.body as Tokens;
    if (body.sessionId !== d.sessionId) problems.push(`wave ${wave} ${label}: refresh of ${d.sessionId} answered for session ${body.sessionId}`);
    // Both a rotation and a repeat within the grace window answer the presented token's successor.
    if (generationOf(body.refreshToken) !== generationOf(presented) + 1) {
      problems.push(`wave ${wave} ${label}: successor of generation ${generationOf(presented)} has generation ${generationOf(body.refreshToken)}`);
    }
    d.issued.add(body.refreshToken);
    if (generationOf(body.refreshToken) > generationOf(d.refreshToken)) {
      d.refreshToken = body.refreshToken;
      d.accessToken = body.accessToken;
    }
    return body.refreshToken;
  }

  async function list(wave: number, d: Device, accessToken: string): Promise<void> {
    const res = await t.http
      .get('/sessions')
      .set('Authorization', `Bearer ${accessToken}`)
      .catch((err: Error) => ({ status: 0, body: { error: err.message } }) as { status: number; body: unknown });
    if (!expectStatus(wave, 'list', d, res.status, allowedWhenRevoked(d, wave, [200]))) return;
    if (res.status === 401) {
      d.believesAlive = false;
      return;
    }
    const listed = res.body as { id: string; current: boolean }[];
    const mine = new Map([d, ...siblingsOf(d)].map((s) => [s.sessionId, s]));
    const ids = listed.map((s) => s.id);
    const foreign = ids.filter((id) => !mine.has(id));
    if (foreign.length) problems.push(`wave ${wave} list by user ${d.userIndex}: ${foreign.length} sessions of other users, e.g. ${foreign[0]}`);
    const current = listed.filter((s) => s.current).map((s) => s.id);
    // The list runs after the session check, in the same READ COMMITTED transaction: a revocation of
    // the caller's own session committed in between (sent this wave) may already hide it.
    const currentOk = current.length === 1 ? current[0] === d.sessionId : current.length === 0 && revocationSentBy(d, wave);
    if (!currentOk) problems.push(`wave ${wave} list by ${d.sessionId}: current is [${current.join(', ')}]`);
    for (const s of mine.values()) {
      const shown = ids.includes(s.sessionId);
      if (!shown && !revocationSentBy(s, wave)) problems.push(`wave ${wave} list by user ${d.userIndex}: live session ${s.sessionId} missing`);
      if (shown && s.confirmedRevokedInWave !== undefined && s.confirmedRevokedInWave < wave) {
        problems.push(`wave ${wave} list by user ${d.userIndex}: session ${s.sessionId} revoked in wave ${s.confirmedRevokedInWave} still listed`);
      }
    }
  }

  async function revokeOther(wave: number, d: Device, target: Device): Promise<void> {
    target.revocationsSent.push({ wave, kind: 'user_revoked' });
    const res = await t.http
      .delete(`/sessions/${target.sessionId}`)
      .set('Authorization', `Bearer ${d.accessToken}`)
      .catch((err: Error) => ({ status: 0, body: { error: err.message } }) as { status: number; body: unknown });
    // 404: someone else revoked the target first (this wave). 401: the caller itself was revoked.
    const allowed = allowedWhenRevoked(d, wave, [204]);
    if (target.revocationsSent.length > 1) allowed.push(404);
    if (!expectStatus(wave, 'revoke-other', d, res.status, allowed)) return;
    if (res.status === 204) target.confirmedRevokedInWave ??= wave;
    if (res.status === 401) d.believesAlive = false;
  }

  async function logout(wave: number, d: Device): Promise<void> {
    d.revocationsSent.push({ wave, kind: 'logout' });
    const res = await t.http
      .post('/auth/logout')
      .set('Authorization', `Bearer ${d.accessToken}`)
      .catch((err: Error) => ({ status: 0, body: { error: err.message } }) as { status: number; body: unknown });
    if (!expectStatus(wave, 'logout', d, res.status, allowedWhenRevoked(d, wave, [204]))) return;
    if (res.status === 401 && d.revocationsSent.length < 2) problems.push(`wave ${wave} logout of ${d.sessionId}: 401 though nobody else revoked it`);
    if (res.status === 204) d.confirmedRevokedInWave ??= wave;
    d.believesAlive = false;
  }

  async function runWaves(): Promise<void> {
    const random = prng(SEED);
    const pick = (): Action => {
      const r = random();
      if (r < 0.33) return 'refresh';
      if (r < 0.52) return 'double-refresh';
      if (r < 0.65) return 'refresh-and-list';
      if (r < 0.95) return 'list';
      if (r < 0.98) return 'revoke-other';
      return 'logout';
    };
    for (let wave = 0; wave < WAVES; wave++) {
      const work: Promise<unknown>[] = [];
      for (const d of devices) {
        if (!d.believesAlive) continue;
        let action = pick();
        const targets = siblingsOf(d).filter((s) => s.confirmedRevokedInWave === undefined && s.believesAlive);
        if (action === 'revoke-other' && targets.length === 0) action = 'list';
        const token = d.refreshToken;
        const access = d.accessToken;
        switch (action) {
          case 'refresh':
            work.push(refresh(wave, d, token, 'refresh'));
            break;
          case 'double-refresh':
            // Two tabs with the same stored token at once: both must get the same successor.
            work.push(
              Promise.all([refresh(wave, d, token, 'refresh (tab 1)'), refresh(wave, d, token, 'refresh (tab 2)')]).then(([a, b]) => {
                if (a && b && a !== b) problems.push(`wave ${wave} two tabs of ${d.sessionId} got two different successors`);
              }),
            );
            break;
          case 'refresh-and-list':
            // One tab rotates while another uses the access token it already has.
            work.push(refresh(wave, d, token, 'refresh'), list(wave, d, access));
            break;
          case 'list':
            work.push(list(wave, d, access));
            break;
          case 'revoke-other':
            work.push(revokeOther(wave, d, targets[Math.floor(random() * targets.length)]));
            break;
          case 'logout':
            work.push(logout(wave, d));
            break;
        }
      }
      await Promise.all(work);
    }
  }

  const ownerRows = (): Promise<
    { id: string; user_id: string; refresh_token_hash: string; is_revoked: boolean; revoked_reason: string | null; active: boolean }[]
  > =>
    t.db.asOwner(
      async (c) =>
        (
          await c.query(
            `select id, user_id, refresh_token_hash, is_revoked, revoked_reason,
                    (not is_revoked and expires_at > now()) as active
               from sessions order by id`,
          )
        ).rows,
    );

  it('answers every one of the overlapping requests with an expected status, never a 5xx', () => {
    const total = outcomes.length;
    expect(total).toBeGreaterThan(1200);
    const serverErrors = outcomes.filter((o) => o.status >= 500 || o.status === 0);
    expect(serverErrors).toEqual([]);
    expect({ count: problems.length, first: problems.slice(0, 15) }).toEqual({ count: 0, first: [] });
    // The scenario really exercised every kind of request, and revocations raced with use.
    const count = (action: string, status: number): number => outcomes.filter((o) => o.action.startsWith(action) && o.status === status).length;
    expect(count('refresh', 200)).toBeGreaterThan(500);
    expect(count('refresh (tab', 200)).toBeGreaterThan(200);
    expect(count('list', 200)).toBeGreaterThan(400);
    expect(count('revoke-other', 204)).toBeGreaterThan(10);
    expect(count('logout', 204)).toBeGreaterThan(5);
    expect(count('refresh', 401) + count('list', 401)).toBeGreaterThan(5);
  });

  it('rotates each refresh token at most once: two tabs presenting the same token share one successor', () => {
    // Every rotation (one UPDATE of the hash) issues a new generation; repeats within the grace
    // window answer the same successor without rotating again.
    const successors = devices.reduce((n, d) => n + [...d.issued].filter((tok) => generationOf(tok) > 0).length, 0);
    expect(rotations).toBe(successors);
  });

  it("leaves every active session's stored hash equal to the one refresh token its client holds", async () => {
    const rows = await ownerRows();
    expect(rows).toHaveLength(USERS * DEVICES);
    const byId = new Map(devices.map((d) => [d.sessionId, d]));
    const held = devices.map((d) => sha256(d.refreshToken));
    const mismatches: string[] = [];
    for (const row of rows) {
      const d = byId.get(row.id);
      if (!d) {
        mismatches.push(`unknown session ${row.id}`);
        continue;
      }
      if (row.user_id !== d.user.id) mismatches.push(`${row.id}: owned by ${row.user_id}, client ${d.user.id}`);
      if (row.active) {
        if (!d.believesAlive) mismatches.push(`${row.id}: active, but its client was told it ended`);
        if (d.confirmedRevokedInWave !== undefined) mismatches.push(`${row.id}: active after a 204 revocation`);
        if (row.refresh_token_hash !== sha256(d.refreshToken)) {
          mismatches.push(`${row.id}: stored hash is not the held token's (generation ${generationOf(d.refreshToken)})`);
        }
        if (held.filter((h) => h === row.refresh_token_hash).length !== 1) mismatches.push(`${row.id}: held by other than exactly one client`);
        if ([...d.issued].filter((tok) => sha256(tok) === row.refresh_token_hash).length !== 1) {
          mismatches.push(`${row.id}: stored hash matches no token the server handed out`);
        }
      }
    }
    expect(mismatches).toEqual([]);
  });

  it('ends exactly the sessions that clients revoked or logged out, for that reason, and never as token reuse', async () => {
    const rows = await ownerRows();
    const byId = new Map(devices.map((d) => [d.sessionId, d]));
    const wrong: string[] = [];
    for (const row of rows) {
      const d = byId.get(row.id)!;
      if (!row.is_revoked) {
        if (!d.believesAlive) wrong.push(`${row.id}: client was told it ended, but it is not revoked`);
        continue;
      }
      const kinds = new Set(d.revocationsSent.map((r) => r.kind));
      if (!kinds.has(row.revoked_reason as Revocation)) {
        wrong.push(`${row.id}: revoked as ${row.revoked_reason}; revocations sent: ${[...kinds].join(', ') || 'none'}`);
      }
    }
    for (const d of devices) {
      if (d.confirmedRevokedInWave !== undefined && !rows.find((r) => r.id === d.sessionId)?.is_revoked) wrong.push(`${d.sessionId}: 204 but not revoked`);
    }
    expect(wrong).toEqual([]);
    const reuse = t.logs.entries().filter((e) => e.event === 'auth.refresh.reuse_detected');
    expect(reuse).toEqual([]);
    expect(rows.filter((r) => r.is_revoked).length).toBeGreaterThan(10);
    expect(rows.filter((r) => r.active).length).toBeGreaterThan(30);
  });

  it("refreshes each session's held token once afterwards: live ones rotate to what the database stores, revoked ones refuse", async () => {
    const before = new Map((await ownerRows()).map((r) => [r.id, r]));
    const results = await Promise.all(
      devices.map(async (d) => {
        const res = await client.refresh(d.refreshToken);
        const me = await t.http.get('/auth/me').set('Authorization', `Bearer ${d.accessToken}`);
        return { d, res, me };
      }),
    );
    const after = new Map((await ownerRows()).map((r) => [r.id, r]));
    const wrong: string[] = [];
    for (const { d, res, me } of results) {
      const was = before.get(d.sessionId)!;
      const now = after.get(d.sessionId)!;
      if (was.active) {
        if (res.status !== 200) wrong.push(`${d.sessionId}: live session's held token answered ${res.status}`);
        else if (now.refresh_token_hash !== sha256(res.body.refreshToken)) wrong.push(`${d.sessionId}: successor is not what the database stores`);
        else if (!now.active) wrong.push(`${d.sessionId}: refreshing revoked it`);
        if (me.status !== 200) wrong.push(`${d.sessionId}: live session's access token answered ${me.status}`);
      } else {
        if (res.status !== 401) wrong.push(`${d.sessionId}: revoked session's token answered ${res.status}`);
        if (me.status !== 401) wrong.push(`${d.sessionId}: revoked session's access token answered ${me.status}`);
        if (JSON.stringify(now) !== JSON.stringify(was)) wrong.push(`${d.sessionId}: refused refresh changed the row`);
      }
    }
    expect(wrong).toEqual([]);
  });
});
