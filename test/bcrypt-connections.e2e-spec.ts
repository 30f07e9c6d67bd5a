import { EntityManager } from '@mikro-orm/postgresql';
import { PasswordHasher } from '../src/users/password';
import { bearer, login, newUser, Tokens, uniqueEmail } from './support/factories';
import { HeldPasswordHasher, withHeldPasswordHasher } from './support/held-password-hasher';
import { createTestApp, TestApp } from './support/test-app';

/**
 * bcrypt takes ~200 ms at cost 12. A pooled database connection held across it lets a few slow
 * requests starve everyone else (60 concurrent password changes once made a bystander's GET /sessions
 * take ~5 s). With a pool of ONE connection and a short acquire timeout, each bcrypt call here is
 * held still while a bystander's request runs: it is served only if the connection is free.
 */
describe('no pooled connection is held while bcrypt runs', () => {
  let t: TestApp;
  let hasher: HeldPasswordHasher;
  let bystander: Tokens;

  beforeAll(async () => {
    t = await createTestApp({
      env: { DATABASE_POOL_MAX: '1', DATABASE_ACQUIRE_TIMEOUT_MS: '1500' },
      configure: withHeldPasswordHasher,
    });
    hasher = t.app.get(PasswordHasher);
    const pool = (await t.app.get(EntityManager).getConnection().getNativeClient()) as { totalCount: number; idleCount: number };
    hasher.inUse = () => pool.totalCount - pool.idleCount;
    bystander = await login(t.http, await newUser(t.http));
  });
  afterAll(() => t?.close());

  /** Waits for the bcrypt call to be held; fails at once should the request answer without one. */
  async function untilHeld(entered: Promise<void>, pending: Promise<{ status: number; body: unknown }>): Promise<void> {
    const early = await Promise.race([entered.then(() => undefined), pending]);
    if (early) throw new Error(`answered ${early.status} ${JSON.stringify(early.body)} without reaching bcrypt`);
  }

  /** Starts `request`, waits until its bcrypt call is held, then checks the pool and a bystander. */
  async function whileBcryptIsHeld(request: () => PromiseLike<{ status: number; body: unknown }>): Promise<number> {
    const { entered, release } = hasher.holdNext();
    const pending = Promise.resolve(request()); // supertest sends on then()
    await untilHeld(entered, pending);
    try {
      expect(hasher.connectionsInUse.at(-1)).toBe(0);
      const res = await t.http.get('/sessions').set(...bearer(bystander));
      expect(res.status).toBe(200);
    } finally {
      release();
    }
    return (await pending).status;
  }

  it('sign-in: the lookup’s connection is back in the pool before the password is compared', async () => {
    const user = await newUser(t.http);
    expect(await whileBcryptIsHeld(() => t.http.post('/auth/login').send({ email: user.email, password: user.password }))).toBe(200);
  });

  it('sign-in with a wrong password or an unknown email: no connection held either', async () => {
    const user = await newUser(t.http);
    expect(await whileBcryptIsHeld(() => t.http.post('/auth/login').send({ email: user.email, password: 'not-the-password' }))).toBe(401);
    expect(await whileBcryptIsHeld(() => t.http.post('/auth/login').send({ email: uniqueEmail(), password: 'whatever-password' }))).toBe(401);
  });

  it('registration: the password is hashed before any transaction', async () => {
    expect(await whileBcryptIsHeld(() => t.http.post('/auth/register').send({ email: uniqueEmail(), password: 'a good password' }))).toBe(201);
  });

  it('password change: neither the check of the current password nor the hash of the new one holds a connection', async () => {
    const user = await newUser(t.http);
    const tokens = await login(t.http, user);
    const change = (currentPassword: string, newPassword: string) => () =>
      t.http.post('/auth/password').set(...bearer(tokens)).send({ currentPassword, newPassword });

    // Held at the first bcrypt call (the check), then at the second (hashing the new password).
    expect(await whileBcryptIsHeld(change(user.password, 'the second password'))).toBe(204);
    const second = hasher.holdNext();
    const pending = Promise.resolve(change('the second password', 'the third password')());
    await untilHeld(second.entered, pending); // check
    second.release();
    const third = hasher.holdNext();
    await untilHeld(third.entered, pending); // hash
    try {
      expect(hasher.connectionsInUse.at(-1)).toBe(0);
      expect((await t.http.get('/sessions').set(...bearer(bystander))).status).toBe(200);
    } finally {
      third.release();
    }
    expect((await pending).status).toBe(204);
    await login(t.http, { email: user.email, password: 'the third password' });
  });

  it('no bcrypt call in this file started with a connection in use', () => {
    expect(hasher.connectionsInUse.length).toBeGreaterThan(8);
    expect(new Set(hasher.connectionsInUse)).toEqual(new Set([0]));
  });
});
