import request from 'supertest';
import { PasswordHasher } from '../src/users/password';
import { bearer, login, newUser, uniqueEmail } from './support/factories';
import { HeldPasswordHasher, withHeldPasswordHasher } from './support/held-password-hasher';
import { createTestApp, TestApp } from './support/test-app';

describe('passwords and emails over HTTP', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t.close());

  const sessionRows = (userId: string): Promise<Record<string, any>[]> =>
    t.db.asOwner(async (c) => (await c.query('select * from sessions where user_id = $1 order by id', [userId])).rows);

  const passwordHash = (userId: string): Promise<string> =>
    t.db.asOwner(async (c) => (await c.query('select password_hash from users where id = $1', [userId])).rows[0].password_hash);

  const register = (email: string, password: string) => t.http.post('/auth/register').send({ email, password });
  const tryLogin = (email: string, password: string) => t.http.post('/auth/login').send({ email, password });

  describe('POST /auth/password', () => {
    it('revokes every other session as password_change, keeps the current one and swaps the password', async () => {
      const user = await newUser(t.http);
      const bystander = await newUser(t.http);
      const current = await login(t.http, user);
      const other1 = await login(t.http, user);
      const other2 = await login(t.http, user);
      const bystanderTokens = await login(t.http, bystander);
      const newPassword = 'a brand new password';

      await t.http
        .post('/auth/password')
        .set(...bearer(current))
        .send({ currentPassword: user.password, newPassword })
        .expect(204);

      const rows = Object.fromEntries((await sessionRows(user.id)).map((r) => [r.id, r]));
      expect(rows[current.sessionId]).toMatchObject({ is_revoked: false, revoked_reason: null });
      expect(rows[other1.sessionId]).toMatchObject({ is_revoked: true, revoked_reason: 'password_change' });
      expect(rows[other2.sessionId]).toMatchObject({ is_revoked: true, revoked_reason: 'password_change' });
      expect(await sessionRows(bystander.id)).toEqual([expect.objectContaining({ is_revoked: false })]);

      await t.http.get('/auth/me').set(...bearer(current)).expect(200);
      const refreshed = await t.http.post('/auth/refresh').send({ refreshToken: current.refreshToken }).expect(200);
      await t.http.get('/auth/me').set(...bearer(refreshed.body)).expect(200);
      await t.http.get('/auth/me').set(...bearer(other1)).expect(401);
      await t.http.post('/auth/refresh').send({ refreshToken: other2.refreshToken }).expect(401);
      await t.http.get('/auth/me').set(...bearer(bystanderTokens)).expect(200);

      const old = await tryLogin(user.email, user.password).expect(401);
      expect(old.body).toEqual({ statusCode: 401, message: 'Invalid email or password', error: 'Unauthorized' });
      await login(t.http, { email: user.email, password: newPassword });
    });

    it('refuses a wrong currentPassword with 401 and changes and revokes nothing', async () => {
      const user = await newUser(t.http);
      const current = await login(t.http, user);
      await login(t.http, user);
      const sessionsBefore = await sessionRows(user.id);
      const hashBefore = await passwordHash(user.id);

      const res = await t.http
        .post('/auth/password')
        .set(...bearer(current))
        .send({ currentPassword: `${user.password}!`, newPassword: 'another new password' })
        .expect(401);
      expect(res.body).toEqual({ statusCode: 401, message: 'Current password is incorrect', error: 'Unauthorized' });

      expect(await sessionRows(user.id)).toEqual(sessionsBefore);
      expect(await passwordHash(user.id)).toBe(hashBefore);
      await login(t.http, user);
      await tryLogin(user.email, 'another new password').expect(401);
    });
  });

  describe('password rules (UTF-8 bytes, as bcrypt sees them)', () => {
    it('refuses a 73-byte password at registration instead of truncating it', async () => {
      expect(Buffer.byteLength('a'.repeat(73))).toBe(73);
      expect(Buffer.byteLength('é'.repeat(37))).toBe(74);
      const ascii = await register(uniqueEmail(), 'a'.repeat(73)).expect(400);
      expect(JSON.stringify(ascii.body.message)).toMatch(/password/);
      await register(uniqueEmail(), 'é'.repeat(37)).expect(400);
      // 36 × 'é' is 72 bytes though only 36 characters: allowed.
      await register(uniqueEmail(), 'é'.repeat(36)).expect(201);
    });

    it('accepts exactly 72 bytes, and logs in with exactly that password — not a prefix, not a longer variant', async () => {
      const password = `${'é'.repeat(30)}${'x'.repeat(12)}`;
      expect(Buffer.byteLength(password)).toBe(72);
      const email = uniqueEmail();
      await register(email, password).expect(201);

      await login(t.http, { email, password });
      const prefix = Buffer.from(password).subarray(0, 71).toString('utf8');
      expect(Buffer.byteLength(prefix)).toBe(71);
      await tryLogin(email, prefix).expect(401);
      // bcrypt alone would ignore byte 73 and answer 200 here: the length check must refuse it first.
      const longer = await tryLogin(email, `${password}y`).expect(400);
      expect(longer.body.statusCode).toBe(400);
      await tryLogin(email, `${password}é`).expect(400);
    });

    it('refuses a 7-byte password and one containing NUL', async () => {
      await register(uniqueEmail(), 'abcdefg').expect(400);
      await register(uniqueEmail(), 'abcdefgh').expect(201);
      await register(uniqueEmail(), 'abcd\u0000efgh-long-enough').expect(400);

      const user = await newUser(t.http, { password: 'abcdefgh-valid' });
      await tryLogin(user.email, 'abcdefgh-valid\u0000anything').expect(400);
      await t.http
        .post('/auth/password')
        .set(...bearer(await login(t.http, user)))
        .send({ currentPassword: user.password, newPassword: 'short' })
        .expect(400);
      await login(t.http, user);
    });
  });

  describe('emails', () => {
    it('treats emails case-insensitively and trims them (stored normalised): a second registration differing in case is 409', async () => {
      const first = await register(' Mixed@Case.test ', 'password-one').expect(201);
      expect(first.body.email).toBe('mixed@case.test');

      const dup = await register('mixed@case.test', 'password-two').expect(409);
      expect(dup.body).toEqual({ statusCode: 409, message: 'Email is already registered', error: 'Conflict' });
      await register('MIXED@CASE.TEST', 'password-two').expect(409);

      const tokens = await login(t.http, { email: '  mixed@CASE.test\t', password: 'password-one' });
      const me = await t.http.get('/auth/me').set(...bearer(tokens)).expect(200);
      expect(me.body.id).toBe(first.body.id);
      await tryLogin('mixed@case.test', 'password-two').expect(401);
    });
  });
});

describe('a sign-in with the old password racing a password change', () => {
  let t: TestApp;
  let hasher: HeldPasswordHasher;
  beforeAll(async () => {
    t = await createTestApp({ configure: withHeldPasswordHasher });
    hasher = t.app.get(PasswordHasher);
  });
  afterAll(() => t?.close());

  const activeSessions = (userId: string): Promise<string[]> =>
    t.db.asOwner(async (c) => (await c.query('select id from sessions where user_id = $1 and not is_revoked order by id', [userId])).rows.map((r) => r.id));

  it('opens no session when the change commits while the sign-in is comparing the old password', async () => {
    const user = await newUser(t.http);
    const current = await login(t.http, user);

    // The sign-in has looked the account up (old hash) and is held in bcrypt, about to succeed.
    const held = hasher.holdNext();
    const racing = Promise.resolve(t.http.post('/auth/login').send({ email: user.email, password: user.password }));
    await held.entered;
    await t.http.post('/auth/password').set(...bearer(current)).send({ currentPassword: user.password, newPassword: 'the new password' }).expect(204);
    held.release();

    const res = await racing;
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ statusCode: 401, message: 'Invalid email or password', error: 'Unauthorized' });
    expect(await activeSessions(user.id)).toEqual([current.sessionId]);
    expect(t.logs.entries()).toContainEqual(expect.objectContaining({ event: 'auth.login.failed', userId: user.id, reason: 'password_changed' }));
  });

  it('revokes a session that a sign-in opened just before the change committed', async () => {
    const user = await newUser(t.http);
    const current = await login(t.http, user);
    // The change is held in its check of the current password; a sign-in completes meanwhile.
    const held = hasher.holdNext();
    const changing = Promise.resolve(t.http.post('/auth/password').set(...bearer(current)).send({ currentPassword: user.password, newPassword: 'another new password' }));
    await held.entered;
    const early = await login(t.http, user);
    held.release();
    expect((await changing).status).toBe(204);

    expect(await activeSessions(user.id)).toEqual([current.sessionId]);
    await t.http.post('/auth/refresh').send({ refreshToken: early.refreshToken }).expect(401);
  });
});

describe('POST /auth/password is rate-limited per user and per client IP', () => {
  const WINDOW_SECONDS = 60;
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({
      env: { TRUST_PROXY: '1', RATE_LIMIT_WINDOW_SECONDS: String(WINDOW_SECONDS), RATE_LIMIT_PASSWORD_PER_USER: '3', RATE_LIMIT_PASSWORD_PER_IP: '5' },
    });
  });
  afterAll(() => t?.close());

  const change = (tokens: { accessToken: string }, ip: string, currentPassword: string, newPassword = 'a different password') =>
    request(t.app.getHttpServer()).post('/auth/password').set(...bearer(tokens)).set('X-Forwarded-For', ip).send({ currentPassword, newPassword });

  it('answers 429 after RATE_LIMIT_PASSWORD_PER_USER attempts with one token, from any address, even for the right password', async () => {
    const user = await newUser(t.http);
    const stolen = await login(t.http, user);
    for (let i = 1; i <= 3; i++) expect((await change(stolen, `198.51.100.${i}`, `guess-number-${i}`)).status).toBe(401);

    const right = await change(stolen, '198.51.100.9', user.password);
    expect(right.status).toBe(429);
    expect(right.body).toEqual({ statusCode: 429, message: expect.any(String), error: 'Too Many Requests' });
    expect(Number(right.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(right.headers['retry-after'])).toBeLessThanOrEqual(WINDOW_SECONDS);
    // Nothing changed: the old password still signs in.
    await login(t.http, user);
  });

  it('answers 429 after RATE_LIMIT_PASSWORD_PER_IP attempts from one address, across users', async () => {
    const ip = '203.0.113.77';
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const user = await newUser(t.http);
      statuses.push((await change(await login(t.http, user), ip, `wrong-${i}`)).status);
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429]);
  });
});
