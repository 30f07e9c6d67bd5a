import { bearer, login, newUser } from './support/factories';
import { createTestApp, TestApp } from './support/test-app';

describe('auth journey over HTTP', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t.close());

  it('register → two devices → me → list → rename → refresh → revoke other → logout', async () => {
    const user = await newUser(t.http, { displayName: 'Ada' });
    const phone = await login(t.http, user, { userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148', deviceName: 'Phone' });
    const laptop = await login(t.http, user, { userAgent: 'Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0' });
    expect(phone.tokenType).toBe('Bearer');
    expect(phone.sessionId).not.toBe(laptop.sessionId);

    const me = await t.http.get('/auth/me').set(...bearer(laptop)).expect(200);
    expect(me.body).toEqual({ id: user.id, email: user.email, displayName: 'Ada', createdAt: expect.any(String) });

    const list = await t.http.get('/sessions').set(...bearer(laptop)).expect(200);
    expect(list.body).toHaveLength(2);
    const byId = Object.fromEntries(list.body.map((s: { id: string }) => [s.id, s]));
    expect(byId[laptop.sessionId]).toMatchObject({ current: true, deviceType: 'web', ipAddress: '127.0.0.1' });
    expect(byId[phone.sessionId]).toMatchObject({ current: false, deviceType: 'mobile', deviceName: 'Phone' });

    const renamed = await t.http.patch(`/sessions/${laptop.sessionId}`).set(...bearer(laptop)).send({ deviceName: 'Work laptop' }).expect(200);
    expect(renamed.body).toMatchObject({ id: laptop.sessionId, deviceName: 'Work laptop', current: true });

    const refreshed = await t.http.post('/auth/refresh').send({ refreshToken: laptop.refreshToken }).expect(200);
    expect(refreshed.body.refreshToken).not.toBe(laptop.refreshToken);
    expect(refreshed.body.sessionId).toBe(laptop.sessionId);
    const current = { accessToken: refreshed.body.accessToken as string, refreshToken: refreshed.body.refreshToken as string };

    await t.http.delete(`/sessions/${phone.sessionId}`).set(...bearer(current)).expect(204);
    await t.http.get('/sessions').set(...bearer(phone)).expect(401);
    await t.http.post('/auth/refresh').send({ refreshToken: phone.refreshToken }).expect(401);

    const after = await t.http.get('/sessions').set(...bearer(current)).expect(200);
    expect(after.body.map((s: { id: string }) => s.id)).toEqual([laptop.sessionId]);

    await t.http.post('/auth/logout').set(...bearer(current)).expect(204);
    await t.http.get('/auth/me').set(...bearer(current)).expect(401);
    await t.http.post('/auth/refresh').send({ refreshToken: current.refreshToken }).expect(401);

    const reasons = await t.db.asOwner((c) =>
      c.query('select id, revoked_reason from sessions where user_id = $1 order by created_at', [user.id]),
    );
    expect(Object.fromEntries(reasons.rows.map((r) => [r.id, r.revoked_reason]))).toEqual({
      [phone.sessionId]: 'user_revoked',
      [laptop.sessionId]: 'logout',
    });
  });
});
