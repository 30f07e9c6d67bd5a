import { bearer, login, newUser, TestUser } from './support/factories';
import { createTestApp, TestApp } from './support/test-app';

const CAP = 3;
const CONCURRENT = 10;

/** Active (unrevoked, unexpired) sessions of a user, as the owner sees them. */
const activeSessions = (t: TestApp, userId: string): Promise<string[]> =>
  t.db.asOwner(async (c) =>
    (await c.query<{ id: string }>('select id from sessions where user_id = $1 and not is_revoked and expires_at > now() order by id', [userId])).rows.map((r) => r.id),
  );

async function concurrentSignIns(t: TestApp, user: TestUser): Promise<Array<{ status: number; body: Record<string, any> }>> {
  // Fill the pool first, so the sign-ins really overlap instead of queueing behind new connections.
  const warm = await login(t.http, await newUser(t.http));
  await Promise.all(Array.from({ length: CONCURRENT }, () => t.http.get('/auth/me').set(...bearer(warm)).expect(200)));
  return Promise.all(
    Array.from({ length: CONCURRENT }, (_, i) => t.http.post('/auth/login').send({ email: user.email, password: user.password, deviceName: `device ${i}` })),
  );
}

describe('session cap (SESSION_MAX_PER_USER)', () => {
  describe('SESSION_LIMIT_POLICY=evict_oldest', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await createTestApp({ env: { SESSION_MAX_PER_USER: String(CAP), SESSION_LIMIT_POLICY: 'evict_oldest' } });
    });
    afterAll(() => t.close());

    it(`${CONCURRENT} concurrent sign-ins of one user all succeed and leave exactly ${CAP} active sessions; the others are revoked as session_limit`, async () => {
      const u = await newUser(t.http);
      const responses = await concurrentSignIns(t, u);
      expect(responses.map((r) => r.status)).toEqual(Array(CONCURRENT).fill(200));

      const active = await activeSessions(t, u.id);
      expect(active).toHaveLength(CAP);
      const evicted = responses.map((r) => r.body.sessionId as string).filter((id) => !active.includes(id));
      expect(evicted).toHaveLength(CONCURRENT - CAP);
      for (const id of evicted) expect(await t.db.sessionRow(id)).toMatchObject({ is_revoked: true, revoked_reason: 'session_limit' });
      // Evicted tokens stop working; the survivors keep working.
      for (const r of responses) await t.http.get('/auth/me').set(...bearer(r.body as { accessToken: string })).expect(active.includes(r.body.sessionId) ? 200 : 401);

      const audit = await t.db.asOwner(async (c) =>
        (await c.query("select session_id, actor_id, reason from auth_events where user_id = $1 and type = 'session.evicted'", [u.id])).rows,
      );
      expect(audit.map((e) => e.session_id).sort()).toEqual([...evicted].sort());
      expect(audit.every((e) => e.actor_id === null && e.reason === 'session_limit')).toBe(true);
    });

    it('evicts the least recently used session, not the oldest sign-in', async () => {
      const u = await newUser(t.http);
      const first = await login(t.http, u);
      t.clock.advance(5);
      const second = await login(t.http, u);
      t.clock.advance(5);
      const third = await login(t.http, u);
      t.clock.advance(5);
      // The first session is refreshed, so the second is now the least recently used.
      const refreshed = await t.http.post('/auth/refresh').send({ refreshToken: first.refreshToken }).expect(200);
      t.clock.advance(5);
      const fourth = await login(t.http, u);
      expect((await activeSessions(t, u.id)).sort()).toEqual([first.sessionId, third.sessionId, fourth.sessionId].sort());
      await t.http.get('/auth/me').set(...bearer(second)).expect(401);
      await t.http.get('/auth/me').set(...bearer(refreshed.body)).expect(200);
    });
  });

  describe('SESSION_LIMIT_POLICY=deny', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await createTestApp({ env: { SESSION_MAX_PER_USER: String(CAP), SESSION_LIMIT_POLICY: 'deny' } });
    });
    afterAll(() => t.close());

    it(`${CONCURRENT} concurrent sign-ins of one user: exactly ${CAP} succeed, the others get 409 SESSION_LIMIT_REACHED and open nothing`, async () => {
      const u = await newUser(t.http);
      const responses = await concurrentSignIns(t, u);
      const statuses = responses.map((r) => r.status).sort();
      expect(statuses).toEqual([...Array(CAP).fill(200), ...Array(CONCURRENT - CAP).fill(409)]);
      for (const r of responses.filter((x) => x.status === 409)) {
        expect(r.body).toEqual({ statusCode: 409, message: 'Session limit reached: sign out another session first', error: 'Conflict' });
      }
      const active = await activeSessions(t, u.id);
      expect(active.sort()).toEqual(responses.filter((r) => r.status === 200).map((r) => r.body.sessionId).sort());
      const total = await t.db.asOwner(async (c) => Number((await c.query('select count(*) from sessions where user_id = $1', [u.id])).rows[0].count));
      expect(total).toBe(CAP);

      // Each refusal is in the audit log, committed although the sign-in failed.
      const refusals = await t.db.asOwner(async (c) =>
        Number((await c.query("select count(*) from auth_events where user_id = $1 and type = 'auth.login.failed' and reason = 'session_limit'", [u.id])).rows[0].count),
      );
      expect(refusals).toBe(CONCURRENT - CAP);
    });

    it('lets the user sign in again once a session is signed out; a wrong password is still 401, not 409', async () => {
      const u = await newUser(t.http);
      const sessions = [await login(t.http, u), await login(t.http, u), await login(t.http, u)];
      await t.http.post('/auth/login').send({ email: u.email, password: u.password }).expect(409);
      await t.http.post('/auth/login').send({ email: u.email, password: 'wrong-password' }).expect(401);
      await t.http.post('/auth/logout').set(...bearer(sessions[0])).expect(204);
      await login(t.http, u);
      expect(await activeSessions(t, u.id)).toHaveLength(CAP);
    });
  });
});
