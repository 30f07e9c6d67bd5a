import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { AddressInfo } from 'node:net';
import type { Response } from 'supertest';
import { Clock } from '../src/core/clock';
import { bearer, newUser, TestUser, Tokens } from './support/factories';
import { setCookies } from './support/refresh-transport';
import { createTestApp, TestApp } from './support/test-app';

/**
 * REFRESH_TOKEN_TRANSPORT over HTTP: the cookie's attributes (plain HTTP and behind a TLS-terminating
 * proxy), rotation, clearing, the CSRF rules for requests the cookie authenticates, CORS with
 * credentials, the `both` mode, and `body` mode ignoring cookies altogether.
 */

const APP_ORIGIN = 'https://app.example.test';
const OTHER_ORIGIN = 'https://evil.example.test';
const CSRF_REFUSED = { statusCode: 403, message: 'Cross-site request refused', error: 'Forbidden' };
const INVALID_REFRESH = { statusCode: 401, message: 'Invalid or expired refresh token', error: 'Unauthorized' };
const TOKEN = '[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+';

const sha256 = (token: string): string => createHash('sha256').update(token).digest('hex');

/** Time stands still unless a test moves it, so Max-Age can be compared exactly. */
class FrozenClock extends Clock {
  private ms = Date.now();
  override now(): Date {
    return new Date(this.ms);
  }
  advance(seconds: number): void {
    this.ms += seconds * 1000;
  }
}

function rawSetCookies(res: Pick<Response, 'headers'>): string[] {
  const raw = res.headers['set-cookie'] as unknown;
  return Array.isArray(raw) ? (raw as string[]) : typeof raw === 'string' ? [raw] : [];
}

/** The one Set-Cookie line of a response (fails unless there is exactly one). */
function onlySetCookie(res: Pick<Response, 'headers'>): string {
  const lines = rawSetCookies(res);
  expect(lines).toHaveLength(1);
  return lines[0];
}

/** The token a plain-HTTP cookie response sets, checking every attribute of the line. */
function plainCookieToken(res: Pick<Response, 'headers'>, maxAge?: number): string {
  const line = onlySetCookie(res);
  expect(line).toMatch(new RegExp(`^refresh_token=${TOKEN}; Max-Age=${maxAge ?? '\\d+'}; Path=/; HttpOnly; SameSite=Strict$`));
  return setCookies(res)[0].value!;
}

const CLEARED_PLAIN = 'refresh_token=; Max-Age=0; Path=/; HttpOnly; SameSite=Strict';
const CLEARED_SECURE = '__Host-refresh_token=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Strict';

const portOf = (t: TestApp): number => (t.app.getHttpServer().address() as AddressInfo).port;

describe('REFRESH_TOKEN_TRANSPORT=cookie over plain HTTP', () => {
  let t: TestApp;
  const clock = new FrozenClock();
  beforeAll(async () => {
    t = await createTestApp({
      env: {
        REFRESH_TOKEN_TRANSPORT: 'cookie',
        CORS_ORIGINS: APP_ORIGIN,
        REFRESH_TOKEN_TTL: '7200',
        SESSION_IDLE_TIMEOUT: '7200',
        SESSION_ABSOLUTE_LIFETIME: '10000',
        REFRESH_GRACE_SECONDS: '10',
      },
      configure: (b) => b.overrideProvider(Clock).useValue(clock),
    });
  });
  afterAll(() => t?.close());

  const session = (id: string): Promise<Record<string, any>> => t.db.sessionRow(id) as Promise<Record<string, any>>;
  const refreshWith = (cookie: string) => t.http.post('/auth/refresh').set('Cookie', `refresh_token=${cookie}`);

  async function signIn(user?: TestUser): Promise<{ token: string; tokens: Omit<Tokens, 'refreshToken'>; user: TestUser }> {
    const u = user ?? (await newUser(t.http));
    const res = await t.http.post('/auth/login').send({ email: u.email, password: u.password }).expect(200);
    return { token: plainCookieToken(res), tokens: res.body, user: u };
  }

  it('login answers without refreshToken in the body and sets it as an HttpOnly, SameSite=Strict, Path=/ cookie, Max-Age from expires_at, without Secure or the __Host- prefix', async () => {
    const user = await newUser(t.http);
    // X-Forwarded-Proto is not believed without TRUST_PROXY: this is plain HTTP.
    const res = await t.http.post('/auth/login').set('X-Forwarded-Proto', 'https').send({ email: user.email, password: user.password }).expect(200);

    expect(Object.keys(res.body).sort()).toEqual(['accessToken', 'expiresIn', 'sessionId', 'tokenType']);
    const token = plainCookieToken(res, 7200);
    expect(onlySetCookie(res)).not.toMatch(/Secure|Domain|__Host-/i);
    const row = await session(res.body.sessionId);
    expect(row.refresh_token_hash).toBe(sha256(token));
    expect(row.expires_at.getTime() - clock.now().getTime()).toBe(7200 * 1000);
    await t.http.get('/auth/me').set(...bearer(res.body)).expect(200);
  });

  it('a refresh with the cookie rotates it: the successor replaces the cookie, Max-Age follows expires_at (capped by the absolute lifetime), the database stores its hash', async () => {
    const { token, tokens } = await signIn();
    clock.advance(5000);
    const first = await refreshWith(token).expect(200);
    expect(first.body).not.toHaveProperty('refreshToken');
    expect(first.body.sessionId).toBe(tokens.sessionId);
    // Sliding expiry would be now + 7200 s; the absolute lifetime (10000 s from sign-in) ends sooner.
    const successor = plainCookieToken(first, 5000);
    expect(successor).not.toBe(token);
    let row = await session(tokens.sessionId);
    expect(row.refresh_token_hash).toBe(sha256(successor));
    expect(row.expires_at.getTime() - clock.now().getTime()).toBe(5000 * 1000);

    clock.advance(1000);
    const second = await refreshWith(successor).expect(200);
    const third = plainCookieToken(second, 4000);
    row = await session(tokens.sessionId);
    expect(row.refresh_token_hash).toBe(sha256(third));
  });

  it('logout with only the cookie signs that session out (logout) and clears the cookie with Max-Age=0', async () => {
    const { token, tokens } = await signIn();
    const res = await t.http.post('/auth/logout').set('Cookie', `refresh_token=${token}`).expect(204);
    expect(onlySetCookie(res)).toBe(CLEARED_PLAIN);
    expect(await session(tokens.sessionId)).toMatchObject({ is_revoked: true, revoked_reason: 'logout' });
    await refreshWith(token).expect(401);
    await t.http.get('/auth/me').set(...bearer(tokens)).expect(401);
  });

  it("logout with the bearer token revokes its session and clears the cookie if it is that session's; another session's cookie is left alone", async () => {
    const a = await signIn();
    const b = await signIn(a.user);
    const own = await t.http.post('/auth/logout').set(...bearer(a.tokens)).set('Cookie', `refresh_token=${a.token}`).expect(204);
    expect(onlySetCookie(own)).toBe(CLEARED_PLAIN);
    expect(await session(a.tokens.sessionId)).toMatchObject({ is_revoked: true, revoked_reason: 'logout' });

    const c = await signIn(a.user);
    const other = await t.http.post('/auth/logout').set(...bearer(c.tokens)).set('Cookie', `refresh_token=${b.token}`).expect(204);
    expect(rawSetCookies(other)).toEqual([]);
    expect((await session(b.tokens.sessionId)).is_revoked).toBe(false);
    await refreshWith(b.token).expect(200);
  });

  it('a refresh of a revoked session is refused (401) and clears the cookie', async () => {
    const phone = await signIn();
    const laptop = await signIn(phone.user);
    await t.http.delete(`/sessions/${phone.tokens.sessionId}`).set(...bearer(laptop.tokens)).expect(204);
    const res = await refreshWith(phone.token).expect(401);
    expect(res.body).toEqual(INVALID_REFRESH);
    expect(onlySetCookie(res)).toBe(CLEARED_PLAIN);
  });

  it('reuse detection clears the cookie: a rotated token replayed after the grace window gets 401 and Max-Age=0, and the session is revoked', async () => {
    const { token, tokens } = await signIn();
    const rotated = plainCookieToken(await refreshWith(token).expect(200));
    clock.advance(11);
    const replay = await refreshWith(token).expect(401);
    expect(replay.body).toEqual(INVALID_REFRESH);
    expect(onlySetCookie(replay)).toBe(CLEARED_PLAIN);
    expect(await session(tokens.sessionId)).toMatchObject({ is_revoked: true, revoked_reason: 'refresh_token_reuse' });
    expect(onlySetCookie(await refreshWith(rotated).expect(401))).toBe(CLEARED_PLAIN);
  });

  it('a forged or garbage cookie is refused (401) and cleared; the session is untouched', async () => {
    const { token, tokens } = await signIn();
    const before = await session(tokens.sessionId);
    const [payload, mac] = token.split('.');
    const forged = `${payload}.${mac[0] === 'A' ? 'B' : 'A'}${mac.slice(1)}`;
    for (const bad of [forged, 'garbage', `${token}x`, '%ZZ']) {
      const res = await refreshWith(bad).expect(401);
      expect(res.body).toEqual(INVALID_REFRESH);
      expect(onlySetCookie(res)).toBe(CLEARED_PLAIN);
    }
    expect(await session(tokens.sessionId)).toEqual(before);
  });

  it('a cookie that is no longer current (rotated) cannot log out: 401, the cookie cleared, the session still active', async () => {
    const { token, tokens } = await signIn();
    const current = plainCookieToken(await refreshWith(token).expect(200));
    const before = await session(tokens.sessionId);
    const res = await t.http.post('/auth/logout').set('Cookie', `refresh_token=${token}`).expect(401);
    expect(res.body).toEqual(INVALID_REFRESH);
    expect(onlySetCookie(res)).toBe(CLEARED_PLAIN);
    expect(await session(tokens.sessionId)).toEqual(before);
    await refreshWith(current).expect(200);
  });

  it('without the cookie: refresh and logout answer the clean 401; a refreshToken in the body or asking for body transport is a 400; nothing changes', async () => {
    const { token, tokens } = await signIn();
    const before = await session(tokens.sessionId);

    expect((await t.http.post('/auth/refresh').send({}).expect(401)).body).toEqual(INVALID_REFRESH);
    expect((await t.http.post('/auth/refresh').expect(401)).body).toEqual(INVALID_REFRESH); // no body at all
    // Only the plain name counts over HTTP; other cookies are not the refresh token.
    await t.http.post('/auth/refresh').set('Cookie', `__Host-refresh_token=${token}; other=1`).expect(401);
    const inBody = await t.http.post('/auth/refresh').send({ refreshToken: token }).expect(400);
    expect(inBody.body.message).toMatch(/refreshToken is not accepted in the body/);
    const logout = await t.http.post('/auth/logout').expect(401);
    expect(logout.body).toEqual({ statusCode: 401, message: 'Unauthorized', error: 'Unauthorized' });
    const user = await newUser(t.http);
    const bodyLogin = await t.http.post('/auth/login').send({ email: user.email, password: user.password, refreshTokenTransport: 'body' }).expect(400);
    expect(bodyLogin.body.message).toMatch(/refreshTokenTransport must be cookie/);
    for (const res of [inBody, logout, bodyLogin]) expect(rawSetCookies(res)).toEqual([]);

    expect(await session(tokens.sessionId)).toEqual(before);
    await refreshWith(token).expect(200);
  });
  it('answers garbage Cookie headers on refresh and logout with the clean 401, never a 5xx, and changes nothing (fixed seed; FC_SEED varies it)', async () => {
    const { tokens } = await signIn();
    const before = await session(tokens.sessionId);
    // Header-safe text (visible ASCII and spaces), so the request itself is well-formed HTTP.
    const octets = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 300 });
    const header = fc.oneof(
      octets,
      octets.map((v) => `refresh_token=${v}`),
      fc.tuple(octets, octets).map(([a, b]) => `${a}; refresh_token=${b}; refresh_token=x`),
      fc.constantFrom('refresh_token=', 'refresh_token', '=;=;', 'refresh_token=%E0%A4%A', `refresh_token=${'A'.repeat(4000)}.${'B'.repeat(43)}`),
    );
    const seed = process.env.FC_SEED !== undefined ? Number(process.env.FC_SEED) : 20261130;
    await fc.assert(
      fc.asyncProperty(header, async (cookie) => {
        for (const route of ['refresh', 'logout']) {
          const res = await t.http.post(`/auth/${route}`).set('Cookie', cookie).send({});
          expect(res.status).toBe(401);
          expect(res.body.statusCode).toBe(401);
        }
      }),
      { seed, numRuns: 60 },
    );
    expect(await session(tokens.sessionId)).toEqual(before);
  });
});


describe('CSRF defence for requests the refresh cookie authenticates', () => {
  let t: TestApp;
  let own: string;
  beforeAll(async () => {
    t = await createTestApp({ env: { REFRESH_TOKEN_TRANSPORT: 'cookie', CORS_ORIGINS: APP_ORIGIN } });
    own = `http://127.0.0.1:${portOf(t)}`;
  });
  afterAll(() => t?.close());

  const session = (id: string): Promise<Record<string, any>> => t.db.sessionRow(id) as Promise<Record<string, any>>;

  async function signIn(): Promise<{ token: string; sessionId: string; accessToken: string }> {
    const user = await newUser(t.http);
    const res = await t.http.post('/auth/login').send({ email: user.email, password: user.password }).expect(200);
    return { token: plainCookieToken(res), sessionId: res.body.sessionId, accessToken: res.body.accessToken };
  }

  const send = (route: 'refresh' | 'logout', token: string, headers: Record<string, string>) => {
    const req = t.http.post(`/auth/${route}`).set('Cookie', `refresh_token=${token}`);
    for (const [name, value] of Object.entries(headers)) req.set(name, value);
    return req;
  };

  const refused: Array<[string, (own: string) => Record<string, string>]> = [
    ['an Origin of another site', () => ({ Origin: OTHER_ORIGIN })],
    ['an Origin on another port of the same host', (o) => ({ Origin: o.replace(/:(\d+)$/, (_, p: string) => `:${Number(p) + 1}`) })],
    ['the https Origin of the service’s http address', (o) => ({ Origin: o.replace('http:', 'https:') })],
    ['Origin: null', () => ({ Origin: 'null' })],
    ['a look-alike of the allowed origin', () => ({ Origin: `${APP_ORIGIN}.evil.test` })],
    ['Sec-Fetch-Site: cross-site without an Origin', () => ({ 'Sec-Fetch-Site': 'cross-site' })],
    ['Sec-Fetch-Site: cross-site from an allowed Origin', () => ({ 'Sec-Fetch-Site': 'cross-site', Origin: APP_ORIGIN })],
    ['Sec-Fetch-Site: cross-site from the service’s own Origin', (o) => ({ 'Sec-Fetch-Site': 'cross-site', Origin: o })],
  ];
  const accepted: Array<[string, (own: string) => Record<string, string>]> = [
    ['neither header (a non-browser client)', () => ({})],
    ['the service’s own Origin', (o) => ({ Origin: o })],
    ['Sec-Fetch-Site: same-origin with the service’s own Origin', (o) => ({ 'Sec-Fetch-Site': 'same-origin', Origin: o })],
    ['an Origin listed in CORS_ORIGINS', () => ({ Origin: APP_ORIGIN })],
    ['Sec-Fetch-Site: same-site from an Origin in CORS_ORIGINS', () => ({ 'Sec-Fetch-Site': 'same-site', Origin: APP_ORIGIN })],
    ['Sec-Fetch-Site: none without an Origin', () => ({ 'Sec-Fetch-Site': 'none' })],
  ];

  it.each(refused)('refuses a refresh and a logout with the cookie and %s: 403, no cookie set, the session row unchanged', async (_what, headers) => {
    const { token, sessionId, accessToken } = await signIn();
    const before = await session(sessionId);
    for (const route of ['refresh', 'logout'] as const) {
      const res = await send(route, token, headers(own)).expect(403);
      expect(res.body).toEqual(CSRF_REFUSED);
      expect(rawSetCookies(res)).toEqual([]);
    }
    // A bearer token does not make a cross-site request with the cookie acceptable either.
    await send('logout', token, headers(own)).set('Authorization', `Bearer ${accessToken}`).expect(403);
    expect(await session(sessionId)).toEqual(before);
    expect(t.logs.entries()).toContainEqual(expect.objectContaining({ event: 'auth.csrf.refused', path: '/auth/logout' }));
    await send('refresh', token, {}).expect(200);
  });

  it.each(accepted)('accepts a refresh and a logout with the cookie and %s', async (_what, headers) => {
    const { token, sessionId } = await signIn();
    const refreshed = await send('refresh', token, headers(own)).expect(200);
    const successor = plainCookieToken(refreshed);
    expect((await session(sessionId)).refresh_token_hash).toBe(sha256(successor));
    const out = await send('logout', successor, headers(own)).expect(204);
    expect(onlySetCookie(out)).toBe(CLEARED_PLAIN);
    expect(await session(sessionId)).toMatchObject({ is_revoked: true, revoked_reason: 'logout' });
  });

  it('does not apply to requests without the cookie: a foreign Origin gets the usual answers', async () => {
    const { sessionId, accessToken } = await signIn();
    expect((await t.http.post('/auth/refresh').set('Origin', OTHER_ORIGIN).send({}).expect(401)).body).toEqual(INVALID_REFRESH);
    await t.http.post('/auth/logout').set('Origin', OTHER_ORIGIN).set('Authorization', `Bearer ${accessToken}`).expect(204);
    expect(await session(sessionId)).toMatchObject({ is_revoked: true, revoked_reason: 'logout' });
  });

  it('CORS grants the allowed origin credentials (Access-Control-Allow-Credentials: true, its own origin, never *) and nothing to another', async () => {
    const preflight = (origin: string) =>
      t.http.options('/auth/refresh').set('Origin', origin).set('Access-Control-Request-Method', 'POST').set('Access-Control-Request-Headers', 'content-type');
    const allowed = await preflight(APP_ORIGIN).expect(204);
    expect(allowed.headers['access-control-allow-origin']).toBe(APP_ORIGIN);
    expect(allowed.headers['access-control-allow-credentials']).toBe('true');
    const { token } = await signIn();
    const actual = await send('refresh', token, { Origin: APP_ORIGIN }).expect(200);
    expect(actual.headers['access-control-allow-origin']).toBe(APP_ORIGIN);
    expect(actual.headers['access-control-allow-credentials']).toBe('true');

    // Without Access-Control-Allow-Origin for it, a browser lets another origin read nothing and, after a
    // refused preflight, send nothing. (The cors middleware adds Allow-Credentials to every answer.)
    for (const res of [await preflight(OTHER_ORIGIN), await t.http.get('/health').set('Origin', OTHER_ORIGIN).expect(200)]) {
      expect(res.headers['access-control-allow-origin']).toBeUndefined();
    }
  });
});

describe('REFRESH_TOKEN_TRANSPORT=cookie behind a TLS-terminating proxy (TRUST_PROXY=1, X-Forwarded-Proto: https)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: { REFRESH_TOKEN_TRANSPORT: 'cookie', TRUST_PROXY: '1' } });
  });
  afterAll(() => t?.close());

  const viaHttps = (req: ReturnType<TestApp['http']['post']>) => req.set('X-Forwarded-Proto', 'https').set('X-Forwarded-Host', 'auth.example.test');

  async function signInOverHttps(): Promise<{ token: string; sessionId: string }> {
    const user = await newUser(t.http);
    const res = await viaHttps(t.http.post('/auth/login')).send({ email: user.email, password: user.password }).expect(200);
    const line = onlySetCookie(res);
    expect(line).toMatch(new RegExp(`^__Host-refresh_token=${TOKEN}; Max-Age=\\d+; Path=/; HttpOnly; Secure; SameSite=Strict$`));
    return { token: setCookies(res)[0].value!, sessionId: res.body.sessionId };
  }

  it('sets the cookie as __Host-refresh_token with Secure (and Path=/, no Domain, HttpOnly, SameSite=Strict) when the proxy says https', async () => {
    const { token, sessionId } = await signInOverHttps();
    expect((await t.db.sessionRow(sessionId))!.refresh_token_hash).toBe(sha256(token));
  });

  it('sets the plain cookie without Secure when the proxy says http', async () => {
    const user = await newUser(t.http);
    const res = await t.http.post('/auth/login').set('X-Forwarded-Proto', 'http').send({ email: user.email, password: user.password }).expect(200);
    expect(onlySetCookie(res)).not.toMatch(/Secure|__Host-/);
    plainCookieToken(res);
  });

  it('over https reads only the __Host- cookie, rotates it as __Host- with Secure, and clears it as such', async () => {
    const { token, sessionId } = await signInOverHttps();
    // A plain-named cookie could have been planted over http or by a sibling subdomain: not read here.
    const plainName = await viaHttps(t.http.post('/auth/refresh')).set('Cookie', `refresh_token=${token}`).expect(401);
    expect(plainName.body).toEqual(INVALID_REFRESH);
    expect(rawSetCookies(plainName)).toEqual([]);
    expect((await t.db.sessionRow(sessionId))!.refresh_token_hash).toBe(sha256(token));

    const res = await viaHttps(t.http.post('/auth/refresh')).set('Cookie', `__Host-refresh_token=${token}`).expect(200);
    const line = onlySetCookie(res);
    expect(line).toMatch(new RegExp(`^__Host-refresh_token=${TOKEN}; Max-Age=\\d+; Path=/; HttpOnly; Secure; SameSite=Strict$`));
    const successor = setCookies(res)[0].value!;
    const out = await viaHttps(t.http.post('/auth/logout')).set('Cookie', `__Host-refresh_token=${successor}`).expect(204);
    expect(onlySetCookie(out)).toBe(CLEARED_SECURE);
    expect(await t.db.sessionRow(sessionId)).toMatchObject({ is_revoked: true, revoked_reason: 'logout' });
  });

  it('takes the service’s own origin from the proxy’s scheme and host for the Origin check', async () => {
    const { token } = await signInOverHttps();
    const cookie = `__Host-refresh_token=${token}`;
    await viaHttps(t.http.post('/auth/refresh')).set('Cookie', cookie).set('Origin', 'http://auth.example.test').expect(403);
    await viaHttps(t.http.post('/auth/refresh')).set('Cookie', cookie).set('Origin', `http://127.0.0.1:${portOf(t)}`).expect(403);
    await viaHttps(t.http.post('/auth/refresh')).set('Cookie', cookie).set('Origin', 'https://auth.example.test').expect(200);
  });
});

describe('REFRESH_TOKEN_TRANSPORT=both', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: { REFRESH_TOKEN_TRANSPORT: 'both' } });
  });
  afterAll(() => t?.close());

  it('a login gets the token in the body by default, and in the cookie when it asks with refreshTokenTransport: "cookie"', async () => {
    const user = await newUser(t.http);
    const body = await t.http.post('/auth/login').send({ email: user.email, password: user.password }).expect(200);
    expect(body.body.refreshToken).toMatch(new RegExp(`^${TOKEN}$`));
    expect(rawSetCookies(body)).toEqual([]);
    const explicit = await t.http.post('/auth/login').send({ email: user.email, password: user.password, refreshTokenTransport: 'body' }).expect(200);
    expect(explicit.body.refreshToken).toMatch(new RegExp(`^${TOKEN}$`));

    const cookie = await t.http.post('/auth/login').send({ email: user.email, password: user.password, refreshTokenTransport: 'cookie' }).expect(200);
    expect(cookie.body).not.toHaveProperty('refreshToken');
    const token = plainCookieToken(cookie);
    expect((await t.db.sessionRow(cookie.body.sessionId))!.refresh_token_hash).toBe(sha256(token));
  });

  it('a refresh that arrives with the cookie is answered with the cookie; one with a body token, in the body', async () => {
    const user = await newUser(t.http);
    const viaCookie = await t.http.post('/auth/login').send({ email: user.email, password: user.password, refreshTokenTransport: 'cookie' }).expect(200);
    const rotated = await t.http.post('/auth/refresh').set('Cookie', `refresh_token=${plainCookieToken(viaCookie)}`).expect(200);
    expect(rotated.body).not.toHaveProperty('refreshToken');
    plainCookieToken(rotated);

    const viaBody = await t.http.post('/auth/login').send({ email: user.email, password: user.password }).expect(200);
    const next = await t.http.post('/auth/refresh').set('Origin', OTHER_ORIGIN).send({ refreshToken: viaBody.body.refreshToken }).expect(200);
    expect(next.body.refreshToken).toMatch(new RegExp(`^${TOKEN}$`));
    expect(rawSetCookies(next)).toEqual([]);
  });

  it('a refresh with neither the cookie nor a body token is the 400 a body-only service gives', async () => {
    const res = await t.http.post('/auth/refresh').send({}).expect(400);
    expect(res.body).toEqual({ statusCode: 400, message: expect.arrayContaining(['refreshToken must be a string']), error: 'Bad Request' });
  });
});

describe('REFRESH_TOKEN_TRANSPORT=body (the default) ignores cookies', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: { CORS_ORIGINS: APP_ORIGIN } });
  });
  afterAll(() => t?.close());

  it('sets no cookie, reads none, refuses cookie transport at login, and CORS grants no credentials', async () => {
    const user = await newUser(t.http);
    const login = await t.http.post('/auth/login').send({ email: user.email, password: user.password }).expect(200);
    expect(login.body.refreshToken).toMatch(new RegExp(`^${TOKEN}$`));
    expect(rawSetCookies(login)).toEqual([]);
    const token = login.body.refreshToken as string;

    const missing = await t.http.post('/auth/refresh').send({}).expect(400);
    const cookieOnly = await t.http.post('/auth/refresh').set('Cookie', `refresh_token=${token}`).send({}).expect(400);
    expect(cookieOnly.body).toEqual(missing.body);
    expect(missing.body).toEqual({ statusCode: 400, message: expect.arrayContaining(['refreshToken must be a string']), error: 'Bad Request' });
    await t.http.post('/auth/logout').set('Cookie', `refresh_token=${token}`).expect(401);
    // No cookie is read, so no CSRF rule applies: the body token from any origin works as before.
    const rotated = await t.http.post('/auth/refresh').set('Cookie', `refresh_token=${token}`).set('Origin', OTHER_ORIGIN).send({ refreshToken: token }).expect(200);
    expect(rawSetCookies(rotated)).toEqual([]);

    const asked = await t.http.post('/auth/login').send({ email: user.email, password: user.password, refreshTokenTransport: 'cookie' }).expect(400);
    expect(asked.body.message).toMatch(/refreshTokenTransport must be body/);

    const cors = await t.http.get('/health').set('Origin', APP_ORIGIN).expect(200);
    expect(cors.headers['access-control-allow-origin']).toBe(APP_ORIGIN);
    expect(cors.headers['access-control-allow-credentials']).toBeUndefined();
  });
});
