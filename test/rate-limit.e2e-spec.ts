import request, { type Response } from 'supertest';
import TestAgent from 'supertest/lib/agent';
import { bearer, login, newUser, uniqueEmail } from './support/factories';
import { createTestApp, TestApp } from './support/test-app';

/**
 * Rate limits on login, register and refresh (sliding windows, counters in memory per instance).
 * Each describe builds its own app, so counters never leak between them; within one describe each
 * test uses its own client addresses (TRUST_PROXY=1, X-Forwarded-For) and accounts.
 */

const WINDOW_SECONDS = 60;

const limits = (overrides: Partial<Record<'login' | 'account' | 'register' | 'refresh', number>>): Record<string, string> => ({
  TRUST_PROXY: '1',
  RATE_LIMIT_WINDOW_SECONDS: String(WINDOW_SECONDS),
  RATE_LIMIT_LOGIN_PER_IP: String(overrides.login ?? 1000),
  RATE_LIMIT_LOGIN_PER_ACCOUNT: String(overrides.account ?? 1000),
  RATE_LIMIT_REGISTER_PER_IP: String(overrides.register ?? 1000),
  RATE_LIMIT_REFRESH_PER_IP: String(overrides.refresh ?? 1000),
});

/** A 429 in the service's standard error shape, with a whole-second Retry-After inside the window. */
function expectThrottled(res: Response): void {
  expect(res.status).toBe(429);
  expect(res.headers['content-type']).toMatch(/application\/json/);
  expect(res.body).toEqual({ statusCode: 429, message: expect.any(String), error: 'Too Many Requests' });
  expect(res.body.message).not.toBe('');
  const retryAfter = res.headers['retry-after'];
  expect(retryAfter).toMatch(/^\d+$/);
  expect(Number(retryAfter)).toBeGreaterThan(0);
  expect(Number(retryAfter)).toBeLessThanOrEqual(WINDOW_SECONDS);
}

function expectNotThrottled(res: Response): void {
  expect(res.status).not.toBe(429);
  expect(res.headers['retry-after']).toBeUndefined();
}

/** A client whose requests carry `X-Forwarded-For: ip` (TRUST_PROXY=true makes it the client IP). */
const via = (t: TestApp, ip: string): TestAgent => request.agent(t.app.getHttpServer()).set('X-Forwarded-For', ip);

async function sessionCount(t: TestApp, userId: string): Promise<number> {
  return t.db.asOwner(async (c) => (await c.query<{ n: number }>('select count(*)::int as n from sessions where user_id = $1', [userId])).rows[0].n);
}

describe('rate limit: failed sign-ins per account and client IP', () => {
  const PER_ACCOUNT = 3;
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: limits({ account: PER_ACCOUNT }) });
  });
  afterAll(() => t?.close());

  const attempt = (ip: string, email: string, password: string) => t.http.post('/auth/login').set('X-Forwarded-For', ip).send({ email, password });

  it('answers 429 with Retry-After to the address that made N failed sign-ins for the account, even with the right password, before any work', async () => {
    const user = await newUser(via(t, '198.51.100.200'));
    // The email is matched as the service looks it up (one normalisation: trimmed, lower case).
    expect((await attempt('198.51.100.1', user.email, 'wrong-password-1')).status).toBe(401);
    expect((await attempt('198.51.100.1', `  ${user.email.toUpperCase()} `, 'wrong-password-2')).status).toBe(401);
    expect((await attempt('198.51.100.1', user.email, 'wrong-password-3')).status).toBe(401);

    const blocked = await attempt('198.51.100.1', user.email, user.password);
    expectThrottled(blocked);
    // Refused before the handler: no session was opened by the throttled attempt.
    expect(await sessionCount(t, user.id)).toBe(0);
  });

  it("does not lock the owner out: someone else's failures from another address leave the owner's correct sign-in alone", async () => {
    const victim = await newUser(via(t, '198.51.100.201'));
    for (let i = 0; i < PER_ACCOUNT * 2; i++) await attempt('203.0.113.66', victim.email, `attacker-guess-${i}`);
    expectThrottled(await attempt('203.0.113.66', victim.email, victim.password));

    const owner = await attempt('198.51.100.7', victim.email, victim.password);
    expect(owner.status).toBe(200);
    expect(await sessionCount(t, victim.id)).toBe(1);
  });

  it('counts failures, not attempts: correct sign-ins never use up the limit, and one clears the failures before it', async () => {
    const user = await newUser(via(t, '198.51.100.202'));
    for (let i = 0; i < PER_ACCOUNT + 2; i++) expect((await attempt('198.51.100.8', user.email, user.password)).status).toBe(200);
    for (let i = 0; i < PER_ACCOUNT - 1; i++) expect((await attempt('198.51.100.8', user.email, 'a typo in it')).status).toBe(401);
    expect((await attempt('198.51.100.8', user.email, user.password)).status).toBe(200);
    for (let i = 0; i < PER_ACCOUNT - 1; i++) expect((await attempt('198.51.100.8', user.email, 'a typo in it')).status).toBe(401);
    expect((await attempt('198.51.100.8', user.email, user.password)).status).toBe(200);
  });

  it('sends no per-account counter in any header: nobody learns how many attempts were made against an email', async () => {
    const user = await newUser(via(t, '198.51.100.203'));
    const responses = [await attempt('198.51.100.9', user.email, 'wrong'), await attempt('198.51.100.9', user.email, user.password)];
    for (let i = 0; i < PER_ACCOUNT; i++) responses.push(await attempt('198.51.100.10', user.email, 'wrong'));
    responses.push(await attempt('198.51.100.10', user.email, user.password));
    expect(responses.at(-1)!.status).toBe(429);
    for (const res of responses) {
      expect(Object.keys(res.headers).filter((h) => /account/i.test(h))).toEqual([]);
    }
  });

  it('limits only that account: another account signs in from the same address', async () => {
    const blocked = await newUser(t.http);
    const other = await newUser(t.http);
    for (let i = 0; i < PER_ACCOUNT; i++) await attempt('192.0.2.1', blocked.email, 'wrong-password').expect(401);
    expectThrottled(await attempt('192.0.2.1', blocked.email, blocked.password));
    for (let i = 0; i < PER_ACCOUNT; i++) expect((await attempt('192.0.2.1', other.email, other.password)).status).toBe(200);
  });

  it('keys on the same normalised email as the lookup: Unicode spellings of one address count together, and another address is another account', async () => {
    const user = await newUser(via(t, '198.51.100.204'), { email: `josé-${Date.now()}@example.test` });
    const nfd = user.email.normalize('NFD');
    expect(nfd).not.toBe(user.email);
    expect((await attempt('198.51.100.11', nfd, 'wrong-1')).status).toBe(401);
    expect((await attempt('198.51.100.11', nfd.toUpperCase(), 'wrong-2')).status).toBe(401);
    expect((await attempt('198.51.100.11', ` ${user.email} `, 'wrong-3')).status).toBe(401);
    expectThrottled(await attempt('198.51.100.11', user.email, user.password));

    // 'İ' (U+0130) is not 'i' to the lookup either: such a spelling is no way into the ASCII account.
    const ascii = await newUser(via(t, '198.51.100.205'), { email: `alice.smith-${Date.now()}@example.test` });
    const dotted = ascii.email.replace(/i/g, 'İ');
    expect((await attempt('198.51.100.12', dotted, ascii.password)).status).toBe(401);
    expect((await attempt('198.51.100.12', ascii.email.toUpperCase(), ascii.password)).status).toBe(200);
  });
});

describe('rate limit: login per IP', () => {
  const PER_IP = 3;
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: limits({ login: PER_IP }) });
  });
  afterAll(() => t?.close());

  it('blocks many accounts from one IP with 429 while another IP (X-Forwarded-For, trust proxy on) still gets through', async () => {
    const user = await newUser(t.http);
    const from = (ip: string, body: object) => t.http.post('/auth/login').set('X-Forwarded-For', ip).send(body);

    for (let i = 0; i < PER_IP; i++) {
      const res = await from('203.0.113.10', { email: uniqueEmail('spray'), password: 'guess-password' });
      expect(res.status).toBe(401);
    }
    const blocked = await from('203.0.113.10', { email: user.email, password: user.password });
    expectThrottled(blocked);
    expect(await sessionCount(t, user.id)).toBe(0);

    const elsewhere = await from('203.0.113.11', { email: user.email, password: user.password });
    expect(elsewhere.status).toBe(200);
    expect(elsewhere.body.accessToken).toEqual(expect.any(String));
    expect(await sessionCount(t, user.id)).toBe(1);

    // The blocked address stays blocked for the window.
    expectThrottled(await from('203.0.113.10', { email: user.email, password: user.password }));
  });
});

describe('rate limit: register and refresh have their own per-IP limits', () => {
  const LOGIN_PER_IP = 3;
  const REGISTER_PER_IP = 2;
  const REFRESH_PER_IP = 4;
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: limits({ login: LOGIN_PER_IP, register: REGISTER_PER_IP, refresh: REFRESH_PER_IP }) });
  });
  afterAll(() => t?.close());

  const register = (ip: string) =>
    t.http.post('/auth/register').set('X-Forwarded-For', ip).send({ email: uniqueEmail('reg'), password: 'register-password-1' });

  it(`register: registration number ${REGISTER_PER_IP + 1} from one IP is 429; another IP still registers; login from the blocked IP is unaffected`, async () => {
    for (let i = 0; i < REGISTER_PER_IP; i++) expect((await register('198.51.100.20')).status).toBe(201);
    expectThrottled(await register('198.51.100.20'));
    expect((await register('198.51.100.21')).status).toBe(201);

    // Login counts separately (its own limit, not exhausted by the registrations).
    const user = await newUser(via(t, '198.51.100.22'));
    const res = await t.http.post('/auth/login').set('X-Forwarded-For', '198.51.100.20').send({ email: user.email, password: user.password });
    expect(res.status).toBe(200);
  });

  it(`refresh: ${REFRESH_PER_IP} refreshes from one IP pass (more than the register and login limits), the next is 429; another IP still refreshes`, async () => {
    const user = await newUser(via(t, '198.51.100.30'));
    let tokens = await login(via(t, '198.51.100.31'), user);
    for (let i = 0; i < REFRESH_PER_IP; i++) {
      const res = await t.http.post('/auth/refresh').set('X-Forwarded-For', '198.51.100.32').send({ refreshToken: tokens.refreshToken });
      expect(res.status).toBe(200);
      tokens = res.body;
    }
    const blocked = await t.http.post('/auth/refresh').set('X-Forwarded-For', '198.51.100.32').send({ refreshToken: tokens.refreshToken });
    expectThrottled(blocked);

    // The throttled refresh did not consume the token: it still rotates from another address.
    const elsewhere = await t.http.post('/auth/refresh').set('X-Forwarded-For', '198.51.100.33').send({ refreshToken: tokens.refreshToken });
    expect(elsewhere.status).toBe(200);
  });
});

describe('rate limit: routes without a limit are never throttled', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: limits({ login: 1, account: 1, register: 1, refresh: 1 }) });
  });
  afterAll(() => t?.close());

  it('GET /auth/me, GET /sessions, GET /sessions/:id and GET /health answer many times from one IP while login there is already 429', async () => {
    const ip = '198.51.100.40';
    const user = await newUser(via(t, ip));
    const tokens = await login(via(t, ip), user);
    // The limits are live in this app: a second login from the same IP is refused.
    expectThrottled(await t.http.post('/auth/login').set('X-Forwarded-For', ip).send({ email: user.email, password: user.password }));

    for (let i = 0; i < 15; i++) {
      const responses = [
        await t.http.get('/auth/me').set('X-Forwarded-For', ip).set(...bearer(tokens)),
        await t.http.get('/sessions').set('X-Forwarded-For', ip).set(...bearer(tokens)),
        await t.http.get(`/sessions/${tokens.sessionId}`).set('X-Forwarded-For', ip).set(...bearer(tokens)),
        await t.http.get('/health').set('X-Forwarded-For', ip),
      ];
      for (const res of responses) {
        expectNotThrottled(res);
        expect(res.status).toBe(200);
      }
    }
  });
});
