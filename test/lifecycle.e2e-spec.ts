import { bearer, login, newUser } from './support/factories';
import { createTestApp, TestApp } from './support/test-app';

describe('account lifecycle', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t.close());

  it('deleting a user removes their sessions (cascade) and their access and refresh tokens stop working', async () => {
    const user = await newUser(t.http);
    const a = await login(t.http, user);
    const b = await login(t.http, user);
    await t.http.get('/auth/me').set(...bearer(a)).expect(200);

    await t.db.asOwner((c) => c.query('delete from users where id = $1', [user.id]));

    const left = await t.db.asOwner((c) => c.query('select count(*)::int as n from sessions where user_id = $1', [user.id]));
    expect(left.rows[0].n).toBe(0);
    await t.http.get('/auth/me').set(...bearer(a)).expect(401);
    await t.http.get('/sessions').set(...bearer(b)).expect(401);
    await t.http.post('/auth/refresh').send({ refreshToken: a.refreshToken }).expect(401);
    await t.http.post('/auth/refresh').send({ refreshToken: b.refreshToken }).expect(401);
  });

  it('deactivating a user revokes their sessions (admin_action): they can neither log in, refresh nor use an access token', async () => {
    const user = await newUser(t.http);
    const other = await newUser(t.http);
    const a = await login(t.http, user);
    const b = await login(t.http, user);
    const bystander = await login(t.http, other);

    await t.db.asOwner((c) => c.query('update users set is_active = false where id = $1', [user.id]));

    const rows = await t.db.asOwner((c) =>
      c.query('select is_revoked, revoked_reason, revoked_at from sessions where user_id = $1', [user.id]),
    );
    expect(rows.rows).toHaveLength(2);
    for (const row of rows.rows) expect(row).toMatchObject({ is_revoked: true, revoked_reason: 'admin_action', revoked_at: expect.any(Date) });

    await t.http.post('/auth/login').send({ email: user.email, password: user.password }).expect(401);
    await t.http.post('/auth/refresh').send({ refreshToken: a.refreshToken }).expect(401);
    await t.http.post('/auth/refresh').send({ refreshToken: b.refreshToken }).expect(401);
    await t.http.get('/auth/me').set(...bearer(a)).expect(401);

    // Someone else's sessions are untouched.
    await t.http.get('/auth/me').set(...bearer(bystander)).expect(200);
    await t.http.post('/auth/refresh').send({ refreshToken: bystander.refreshToken }).expect(200);
  });

  it('a session that is somehow still live for an inactive account is refused on every request and refresh', async () => {
    const user = await newUser(t.http);
    const tokens = await login(t.http, user);
    // Flip the flag without the trigger, as if the deactivation raced a sign-in.
    await t.db.asOwner(async (c) => {
      await c.query('alter table users disable trigger users_deactivation_revokes_sessions');
      try {
        await c.query('update users set is_active = false where id = $1', [user.id]);
      } finally {
        await c.query('alter table users enable trigger users_deactivation_revokes_sessions');
      }
    });
    const live = await t.db.asOwner((c) => c.query('select is_revoked from sessions where id = $1', [tokens.sessionId]));
    expect(live.rows[0].is_revoked).toBe(false);

    await t.http.get('/sessions').set(...bearer(tokens)).expect(401);
    await t.http.post('/auth/refresh').send({ refreshToken: tokens.refreshToken }).expect(401);
  });
});
