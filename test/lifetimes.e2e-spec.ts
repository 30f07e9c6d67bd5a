import { bearer, login, newUser, Tokens } from './support/factories';
import { createTestApp, TestApp } from './support/test-app';

const REFRESH_TTL = 300;
const IDLE_TIMEOUT = 120;
const ABSOLUTE_LIFETIME = 700;

describe('session lifetimes (fake clock)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({
      env: {
        REFRESH_TOKEN_TTL: String(REFRESH_TTL),
        SESSION_IDLE_TIMEOUT: String(IDLE_TIMEOUT),
        SESSION_ABSOLUTE_LIFETIME: String(ABSOLUTE_LIFETIME),
        REFRESH_GRACE_SECONDS: '5',
      },
    });
  });
  afterAll(() => t.close());

  const session = (id: string): Promise<Record<string, any>> => t.db.sessionRow(id) as Promise<Record<string, any>>;

  const refresh = (refreshToken: string) => t.http.post('/auth/refresh').send({ refreshToken });

  async function signIn(): Promise<Tokens> {
    return login(t.http, await newUser(t.http));
  }

  it('slides expires_at to now + REFRESH_TOKEN_TTL and updates last_used_at on each refresh', async () => {
    const tokens = await signIn();
    const opened = await session(tokens.sessionId);
    expect(Math.abs(opened.expires_at.getTime() - (t.clock.now().getTime() + REFRESH_TTL * 1000))).toBeLessThan(1000);

    t.clock.advance(100);
    const refreshed = await refresh(tokens.refreshToken).expect(200);
    const now = t.clock.now().getTime();
    const row = await session(tokens.sessionId);

    expect(Math.abs(row.expires_at.getTime() - (now + REFRESH_TTL * 1000))).toBeLessThan(1000);
    expect(Math.abs(row.last_used_at.getTime() - now)).toBeLessThan(1000);
    expect(row.last_used_at.getTime() - opened.last_used_at.getTime()).toBeGreaterThanOrEqual(99_000);
    expect(row.created_at).toEqual(opened.created_at);

    const listed = await t.http.get(`/sessions/${tokens.sessionId}`).set(...bearer(refreshed.body)).expect(200);
    expect(new Date(listed.body.expiresAt).getTime()).toBe(row.expires_at.getTime());
    expect(new Date(listed.body.lastUsedAt).getTime()).toBe(row.last_used_at.getTime());
  });

  // GET /sessions, POST /auth/refresh and GET /auth/me read plain rows (no entities): their fields,
  // timestamps to the millisecond, must be exactly what the table holds.
  it('lists every active session with exactly the stored values, most recently used first', async () => {
    const user = await newUser(t.http);
    const a = await login(t.http, user, { userAgent: 'agent-a', deviceName: 'Laptop', deviceType: 'desktop' });
    t.clock.advance(7.123);
    const b = await login(t.http, user, { userAgent: 'agent-b', deviceType: 'mobile' });
    t.clock.advance(3.456);
    const aNext = (await refresh(a.refreshToken).expect(200)).body;

    const listed = (await t.http.get('/sessions').set(...bearer(b)).expect(200)).body as Array<Record<string, unknown>>;
    expect(listed.map((s) => s.id)).toEqual([a.sessionId, b.sessionId]); // a was refreshed last
    for (const s of listed) {
      const row = (await session(s.id as string))!;
      expect(s).toEqual({
        id: row.id,
        deviceName: row.device_name,
        deviceType: row.device_type,
        userAgent: row.user_agent,
        ipAddress: row.ip_address,
        createdAt: row.created_at.toISOString(),
        lastUsedAt: row.last_used_at.toISOString(),
        expiresAt: row.expires_at.toISOString(),
        current: s.id === b.sessionId,
      });
    }
    expect(listed[0]).toMatchObject({ deviceName: 'Laptop', deviceType: 'desktop', userAgent: 'agent-a' });
    expect(listed[1]).toMatchObject({ deviceName: null, deviceType: 'mobile', userAgent: 'agent-b' });

    const me = (await t.http.get('/auth/me').set(...bearer(aNext)).expect(200)).body as Record<string, unknown>;
    const owner = await t.db.asOwner((c) => c.query('select email, display_name, created_at from users where id = $1', [me.id]));
    expect(me).toEqual({
      id: me.id,
      email: owner.rows[0].email,
      displayName: owner.rows[0].display_name,
      createdAt: owner.rows[0].created_at.toISOString(),
    });
  });

  it('refuses a refresh after SESSION_IDLE_TIMEOUT without use and revokes the session as idle_timeout', async () => {
    const tokens = await signIn();
    t.clock.advance(IDLE_TIMEOUT - 10);
    const stillFine = await refresh(tokens.refreshToken).expect(200);

    t.clock.advance(IDLE_TIMEOUT + 1);
    expect((await session(tokens.sessionId)).expires_at.getTime()).toBeGreaterThan(t.clock.now().getTime());
    const res = await refresh(stillFine.body.refreshToken).expect(401);
    expect(res.body).toEqual({ statusCode: 401, message: 'Invalid or expired refresh token', error: 'Unauthorized' });

    expect(await session(tokens.sessionId)).toMatchObject({ is_revoked: true, revoked_reason: 'idle_timeout' });
    await refresh(stillFine.body.refreshToken).expect(401);
    await t.http.get('/auth/me').set(...bearer(stillFine.body)).expect(401);
  });

  it('ends the session at SESSION_ABSOLUTE_LIFETIME however often it is refreshed, never letting expires_at pass it', async () => {
    const tokens = await signIn();
    const createdAt: Date = (await session(tokens.sessionId)).created_at;
    const absoluteEnd = createdAt.getTime() + ABSOLUTE_LIFETIME * 1000;

    let current = tokens.refreshToken;
    let refreshes = 0;
    let capped = false;
    for (;;) {
      t.clock.advance(IDLE_TIMEOUT - 20);
      const res = await refresh(current);
      if (t.clock.now().getTime() >= absoluteEnd) {
        expect(res.status).toBe(401);
        break;
      }
      expect(res.status).toBe(200);
      current = res.body.refreshToken;
      refreshes += 1;
      const row = await session(tokens.sessionId);
      expect(row.expires_at.getTime()).toBeLessThanOrEqual(absoluteEnd);
      if (row.expires_at.getTime() === absoluteEnd) capped = true;
    }

    expect(refreshes).toBeGreaterThanOrEqual(5);
    expect(capped).toBe(true);
    const row = await session(tokens.sessionId);
    expect(row.expires_at.getTime()).toBe(absoluteEnd);
    await refresh(current).expect(401);
  });

  it('refuses a refresh token once REFRESH_TOKEN_TTL has passed since its last use', async () => {
    // An idle timeout longer than the TTL, so plain expiry is what ends the session.
    const long = await createTestApp({
      db: t.db,
      env: { REFRESH_TOKEN_TTL: '60', SESSION_IDLE_TIMEOUT: '600', SESSION_ABSOLUTE_LIFETIME: '6000' },
    });
    try {
      const tokens = await login(long.http, await newUser(long.http));
      long.clock.advance(30);
      const refreshed = await long.http.post('/auth/refresh').send({ refreshToken: tokens.refreshToken }).expect(200);

      long.clock.advance(61);
      const res = await long.http.post('/auth/refresh').send({ refreshToken: refreshed.body.refreshToken }).expect(401);
      expect(res.body).toEqual({ statusCode: 401, message: 'Invalid or expired refresh token', error: 'Unauthorized' });
      await long.http.get('/auth/me').set(...bearer(refreshed.body)).expect(401);
      // Expiry is not a revocation: the row just lapses.
      expect(await session(tokens.sessionId)).toMatchObject({ is_revoked: false, revoked_reason: null });
    } finally {
      await long.close();
    }
  });
});
