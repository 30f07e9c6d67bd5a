// The module object itself (not an `import * as` copy): src/users/password.ts reads `compare` from it
// at call time, so a spy installed here sees every comparison the service makes.
import bcrypt = require('bcrypt');
import { PasswordHasher } from '../src/users/password';
import { UsersService } from '../src/users/users.service';
import { newUser, uniqueEmail } from './support/factories';
import { createTestApp, TestApp } from './support/test-app';

const BCRYPT_HASH = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/;
const INVALID_CREDENTIALS = { statusCode: 401, message: 'Invalid email or password', error: 'Unauthorized' };

/**
 * POST /auth/login over HTTP: an unknown email, a wrong password and an inactive account cost one
 * bcrypt comparison each (against a real hash) and get the same answer, so neither the timing nor
 * the response tells them apart.
 */
describe('POST /auth/login: failures are indistinguishable', () => {
  let t: TestApp;
  let compare: jest.SpyInstance;
  let verify: jest.SpyInstance;
  let checkCredentials: jest.SpyInstance;

  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t.close());

  beforeEach(() => {
    compare = jest.spyOn(bcrypt, 'compare');
    verify = jest.spyOn(PasswordHasher.prototype, 'verify');
    checkCredentials = jest.spyOn(UsersService.prototype, 'checkCredentials');
  });
  afterEach(() => jest.restoreAllMocks());

  const storedHash = (userId: string): Promise<string> =>
    t.db.asOwner(async (c) => (await c.query('select password_hash from users where id = $1', [userId])).rows[0].password_hash);

  const attempt = (email: string, password: string) => t.http.post('/auth/login').send({ email, password });
  const setActive = (userId: string, active: boolean) => t.db.asOwner((c) => c.query('update users set is_active = $2 where id = $1', [userId, active]));

  it('runs exactly one bcrypt comparison for an unknown email, against a real hash at the configured cost', async () => {
    const res = await attempt(uniqueEmail('nobody'), 'some password');

    expect(res.status).toBe(401);
    expect(res.body).toEqual(INVALID_CREDENTIALS);
    expect(checkCredentials).toHaveBeenCalledTimes(1);
    expect(verify).toHaveBeenCalledTimes(1);
    expect(compare).toHaveBeenCalledTimes(1);
    const [password, hash] = compare.mock.calls[0] as [string, string];
    expect(password).toBe('some password');
    const cost = BCRYPT_HASH.exec(hash)?.[1];
    expect(cost).toBeDefined();
    expect(Number(cost)).toBe(t.settings.bcryptCost);
    // The comparison really ran (a real hash, a real `false`), rather than being skipped, and it is
    // the service's dummy hash: no account's.
    await expect(compare.mock.results[0].value).resolves.toBe(false);
    const accounts = await t.db.asOwner(async (c) => (await c.query('select password_hash from users')).rows.map((r) => r.password_hash));
    expect(accounts).not.toContain(hash);
    await attempt(uniqueEmail('nobody'), 'another password').expect(401);
    expect(compare).toHaveBeenCalledTimes(2);
    expect(compare.mock.calls[1][1]).toBe(hash);
  });

  it('runs exactly one bcrypt comparison for a wrong password, against the user’s stored hash', async () => {
    const user = await newUser(t.http);
    compare.mockClear();

    const res = await attempt(user.email, `${user.password}-wrong`);

    expect(res.status).toBe(401);
    expect(res.body).toEqual(INVALID_CREDENTIALS);
    expect(checkCredentials).toHaveBeenCalledTimes(1);
    expect(verify).toHaveBeenCalledTimes(1);
    expect(compare).toHaveBeenCalledTimes(1);
    expect(compare.mock.calls[0]).toEqual([`${user.password}-wrong`, await storedHash(user.id)]);
  });

  it('answers an unknown email, a wrong password and an inactive account with the same status, body and headers', async () => {
    const wrongPassword = await newUser(t.http);
    const inactive = await newUser(t.http);
    await setActive(inactive.id, false);
    compare.mockClear();
    const failedLogins = (): number => t.logs.entries().filter((e) => e.event === 'auth.login.failed').length;
    const failedBefore = failedLogins();

    const unknownRes = await attempt(uniqueEmail('nobody'), 'some password');
    const wrongRes = await attempt(wrongPassword.email, `${wrongPassword.password}-wrong`);
    const inactiveRes = await attempt(inactive.email, inactive.password);

    for (const res of [unknownRes, wrongRes, inactiveRes]) {
      expect(res.status).toBe(401);
      expect(res.body).toEqual(INVALID_CREDENTIALS);
      expect(res.headers['content-type']).toBe(unknownRes.headers['content-type']);
      expect(res.headers['content-length']).toBe(unknownRes.headers['content-length']);
    }
    // One comparison each, the inactive account's against its own (matching) hash.
    expect(compare).toHaveBeenCalledTimes(3);
    expect(compare.mock.calls[2]).toEqual([inactive.password, await storedHash(inactive.id)]);
    await expect(compare.mock.results[2].value).resolves.toBe(true);
    expect(failedLogins() - failedBefore).toBe(3);
  });

  it('lets the inactive account back in once it is reactivated (the 401 was only the flag)', async () => {
    const user = await newUser(t.http);
    await setActive(user.id, false);
    await attempt(user.email, user.password).expect(401);
    await setActive(user.id, true);
    await attempt(user.email, user.password).expect(200);
  });
});
