import { bearer, login, newUser, TestUser, Tokens } from './support/factories';
import { createTestApp, TestApp } from './support/test-app';

describe('sessions are isolated per user (RLS) over HTTP', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t.close());

  const sessionRow = (id: string): Promise<Record<string, unknown> | undefined> => t.db.sessionRow(id);

  const sessionRows = (userId: string): Promise<Record<string, unknown>[]> =>
    t.db.asOwner(async (c) => (await c.query('select * from sessions where user_id = $1 order by id', [userId])).rows);

  /** The access token is honoured and the refresh token rotates (the session is still live). */
  async function expectTokensWork(tokens: Tokens): Promise<void> {
    await t.http.get('/auth/me').set(...bearer(tokens)).expect(200);
    const refreshed = await t.http.post('/auth/refresh').send({ refreshToken: tokens.refreshToken }).expect(200);
    expect(refreshed.body.sessionId).toBe(tokens.sessionId);
    await t.http.get(`/sessions/${tokens.sessionId}`).set(...bearer(refreshed.body)).expect(200);
  }

  describe("another user's session id", () => {
    let a: TestUser;
    let b: TestUser;
    let aTokens: Tokens;
    let bTokens: Tokens;

    beforeAll(async () => {
      a = await newUser(t.http);
      b = await newUser(t.http);
      aTokens = await login(t.http, a, { deviceName: 'A laptop' });
      bTokens = await login(t.http, b, { deviceName: 'B phone', deviceType: 'mobile' });
    });

    it("answers 404 to GET, PATCH and DELETE /sessions/:id and leaves B's row and tokens untouched", async () => {
      const before = await sessionRow(bTokens.sessionId);
      expect(before).toMatchObject({ user_id: b.id, is_revoked: false, device_name: 'B phone' });

      const get = await t.http.get(`/sessions/${bTokens.sessionId}`).set(...bearer(aTokens)).expect(404);
      const patch = await t.http
        .patch(`/sessions/${bTokens.sessionId}`)
        .set(...bearer(aTokens))
        .send({ deviceName: 'pwned' })
        .expect(404);
      const del = await t.http.delete(`/sessions/${bTokens.sessionId}`).set(...bearer(aTokens)).expect(404);

      // The same answer as for an id that exists nowhere: existence is not leaked.
      const unknown = await t.http.get('/sessions/00000000-0000-4000-8000-000000000000').set(...bearer(aTokens)).expect(404);
      expect(get.body).toEqual(unknown.body);
      expect(patch.body).toEqual(unknown.body);
      expect(del.body).toEqual(unknown.body);
      expect(unknown.body).toEqual({ statusCode: 404, message: 'Session not found', error: 'Not Found' });

      expect(await sessionRow(bTokens.sessionId)).toEqual(before);

      const list = await t.http.get('/sessions').set(...bearer(aTokens)).expect(200);
      expect(list.body.map((s: { id: string }) => s.id)).toEqual([aTokens.sessionId]);

      await expectTokensWork(bTokens);
    });
  });

  describe('DELETE /sessions (revoke all)', () => {
    it('with includeCurrent=false revokes only the caller’s other sessions, never another user’s', async () => {
      const a = await newUser(t.http);
      const b = await newUser(t.http);
      const aCurrent = await login(t.http, a);
      const aOther1 = await login(t.http, a);
      const aOther2 = await login(t.http, a);
      const bFirst = await login(t.http, b);
      const bSecond = await login(t.http, b);
      const bBefore = await sessionRows(b.id);
      expect(bBefore).toHaveLength(2);

      const res = await t.http.delete('/sessions?includeCurrent=false').set(...bearer(aCurrent)).expect(200);
      expect(res.body).toEqual({ revoked: 2 });

      const aRows = Object.fromEntries((await sessionRows(a.id)).map((r) => [r.id, r]));
      expect(aRows[aCurrent.sessionId]).toMatchObject({ is_revoked: false, revoked_reason: null, revoked_at: null });
      expect(aRows[aOther1.sessionId]).toMatchObject({ is_revoked: true, revoked_reason: 'user_revoked' });
      expect(aRows[aOther2.sessionId]).toMatchObject({ is_revoked: true, revoked_reason: 'user_revoked' });
      expect(await sessionRows(b.id)).toEqual(bBefore);

      await t.http.get('/auth/me').set(...bearer(aCurrent)).expect(200);
      await t.http.get('/auth/me').set(...bearer(aOther1)).expect(401);
      await t.http.post('/auth/refresh').send({ refreshToken: aOther2.refreshToken }).expect(401);
      await expectTokensWork(bFirst);
      await expectTokensWork(bSecond);

      // Nothing left to revoke: a second call reports zero.
      const again = await t.http.delete('/sessions?includeCurrent=false').set(...bearer(aCurrent)).expect(200);
      expect(again.body).toEqual({ revoked: 0 });
    });

    it('with includeCurrent=true also revokes the current session (as logout), never another user’s', async () => {
      const a = await newUser(t.http);
      const b = await newUser(t.http);
      const aCurrent = await login(t.http, a);
      const aOther = await login(t.http, a);
      const bTokens = await login(t.http, b);
      const bBefore = await sessionRows(b.id);

      const res = await t.http.delete('/sessions?includeCurrent=true').set(...bearer(aCurrent)).expect(200);
      expect(res.body).toEqual({ revoked: 2 });

      const aRows = Object.fromEntries((await sessionRows(a.id)).map((r) => [r.id, r]));
      expect(aRows[aCurrent.sessionId]).toMatchObject({ is_revoked: true, revoked_reason: 'logout' });
      expect(aRows[aOther.sessionId]).toMatchObject({ is_revoked: true, revoked_reason: 'user_revoked' });
      expect(await sessionRows(b.id)).toEqual(bBefore);

      await t.http.get('/auth/me').set(...bearer(aCurrent)).expect(401);
      await t.http.post('/auth/refresh').send({ refreshToken: aCurrent.refreshToken }).expect(401);
      await expectTokensWork(bTokens);
    });
  });
});
