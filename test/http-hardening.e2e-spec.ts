import { isIP } from 'node:net';
import type { Response } from 'supertest';
import { bearer, newUser, TestUser, Tokens } from './support/factories';
import { createTestApp, TestApp } from './support/test-app';

const APP_ORIGIN = 'https://app.example.test';
const OTHER_ORIGIN = 'https://evil.example.test';

const preflight = (t: TestApp, origin: string, path = '/auth/me') =>
  t.http
    .options(path)
    .set('Origin', origin)
    .set('Access-Control-Request-Method', 'GET')
    .set('Access-Control-Request-Headers', 'authorization,content-type');

function expectNoCorsGrant(res: Response): void {
  expect(res.headers['access-control-allow-origin']).toBeUndefined();
  expect(res.headers['access-control-allow-headers']).toBeUndefined();
  expect(res.headers['access-control-allow-methods']).toBeUndefined();
  expect(res.headers['access-control-allow-credentials']).toBeUndefined();
}

/**
 * Not allowed for this origin. (The `cors` middleware still lists its allowed methods and headers on
 * any preflight; without Access-Control-Allow-Origin for the origin, the browser refuses anyway.)
 */
function expectOriginNotAllowed(res: Response): void {
  expect(res.headers['access-control-allow-origin']).toBeUndefined();
  expect(res.headers['access-control-allow-credentials']).toBeUndefined();
}

async function loginFrom(t: TestApp, user: TestUser, forwardedFor?: string): Promise<Response> {
  const req = t.http.post('/auth/login');
  if (forwardedFor !== undefined) req.set('X-Forwarded-For', forwardedFor);
  return req.send({ email: user.email, password: user.password });
}

async function recordedIp(t: TestApp, tokens: Tokens): Promise<string | null> {
  const viaApi = await t.http.get(`/sessions/${tokens.sessionId}`).set(...bearer(tokens)).expect(200);
  const inDb = await t.db.asOwner(
    async (c) => (await c.query<{ ip: string | null }>('select host(ip_address) as ip from sessions where id = $1', [tokens.sessionId])).rows[0].ip,
  );
  expect(viaApi.body.ipAddress).toBe(inDb);
  return inDb;
}

describe('HTTP hardening with the default configuration', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t?.close());

  it.each([
    ['a 200', '/health', 200],
    ['a 401', '/auth/me', 401],
    ['a 404', '/no-such-route', 404],
  ])('sends helmet headers and no X-Powered-By on %s', async (_what, path, status) => {
    const res = await t.http.get(path).expect(status);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['x-frame-options']).toMatch(/^(DENY|SAMEORIGIN)$/);
    const csp = res.headers['content-security-policy'];
    expect(csp).toEqual(expect.any(String));
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("frame-ancestors 'self'");
    expect(csp).not.toContain('upgrade-insecure-requests');
    expect(res.headers['x-powered-by']).toBeUndefined();
  });

  it('answers with Cache-Control: no-store and no ETag, token responses included', async () => {
    const user = await newUser(t.http);
    const login = await t.http.post('/auth/login').send({ email: user.email, password: user.password }).expect(200);
    const refreshed = await t.http.post('/auth/refresh').send({ refreshToken: login.body.refreshToken }).expect(200);
    const sessions = await t.http.get('/sessions').set('Authorization', `Bearer ${refreshed.body.accessToken}`).expect(200);
    for (const res of [login, refreshed, sessions, await t.http.get('/auth/me').expect(401)]) {
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.headers.etag).toBeUndefined();
    }
  });

  it('has CORS off: a cross-origin request gets no Access-Control-Allow-Origin, and a preflight is not granted', async () => {
    const simple = await t.http.get('/health').set('Origin', APP_ORIGIN).expect(200);
    expectNoCorsGrant(simple);

    const pre = await preflight(t, APP_ORIGIN);
    expect(pre.status).not.toBe(204);
    expect(pre.status).toBeLessThan(500);
    expectNoCorsGrant(pre);
  });

  it('answers a JSON body over BODY_LIMIT (16kb by default) with a JSON 413, and one under it normally', async () => {
    const big = await t.http.post('/auth/login').send({ email: 'big@example.test', password: 'x'.repeat(20 * 1024) });
    expect(big.status).toBe(413);
    expect(big.headers['content-type']).toMatch(/application\/json/);
    expect(big.body).toEqual({ statusCode: 413, message: 'Request body too large', error: 'Payload Too Large' });

    const small = await t.http.post('/auth/login').send({ email: 'big@example.test', password: 'x'.repeat(12 * 1024) });
    expect(small.status).not.toBe(413);
    expect(small.status).toBeLessThan(500);
  });

  it('with TRUST_PROXY=false (the default) records the socket address, not X-Forwarded-For, as the session IP', async () => {
    expect(t.config.http.trustProxy).toBe(false);
    const user = await newUser(t.http);
    const res = await loginFrom(t, user, '203.0.113.9');
    expect(res.status).toBe(200);
    expect(await recordedIp(t, res.body)).toBe('127.0.0.1');
  });
});

describe('HTTP hardening with BODY_LIMIT set', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: { BODY_LIMIT: '1kb' } });
  });
  afterAll(() => t?.close());

  it('answers a JSON body over BODY_LIMIT=1kb with a JSON 413 that does not echo the body', async () => {
    const secret = `secret-${'s'.repeat(1500)}`;
    const res = await t.http.post('/auth/register').send({ email: 'limit@example.test', password: secret });
    expect(res.status).toBe(413);
    expect(res.headers['content-type']).toMatch(/application\/json/);
    expect(res.body).toEqual({ statusCode: 413, message: 'Request body too large', error: 'Payload Too Large' });
    expect(res.text).not.toContain('secret-');

    const user = await newUser(t.http);
    expect(user.id).toEqual(expect.any(String)); // a normal body still passes
  });
});

describe('HTTP hardening with CORS_ORIGINS set', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: { CORS_ORIGINS: APP_ORIGIN } });
  });
  afterAll(() => t?.close());

  it('grants a preflight from the allowed origin, with Authorization among the allowed headers', async () => {
    const res = await preflight(t, APP_ORIGIN);
    expect(res.status).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe(APP_ORIGIN);
    expect(res.headers['access-control-allow-methods']).toMatch(/\bGET\b/);
    const allowed = (res.headers['access-control-allow-headers'] ?? '').toLowerCase().split(/\s*,\s*/);
    expect(allowed).toEqual(expect.arrayContaining(['authorization', 'content-type']));
    expect(res.headers.vary).toMatch(/Origin/i);
  });

  it('allows an actual request from the allowed origin and exposes X-Request-Id and Retry-After', async () => {
    const res = await t.http.get('/health').set('Origin', APP_ORIGIN).expect(200);
    expect(res.headers['access-control-allow-origin']).toBe(APP_ORIGIN);
    const exposed = (res.headers['access-control-expose-headers'] ?? '').toLowerCase();
    expect(exposed).toContain('x-request-id');
    expect(exposed).toContain('retry-after');
  });

  it('does not grant another origin, on a preflight or an actual request', async () => {
    expectOriginNotAllowed(await preflight(t, OTHER_ORIGIN));
    expectOriginNotAllowed(await t.http.get('/health').set('Origin', OTHER_ORIGIN).expect(200));
    // Nor a look-alike of the allowed one.
    expectOriginNotAllowed(await preflight(t, `${APP_ORIGIN}.evil.test`));
    expectOriginNotAllowed(await preflight(t, 'http://app.example.test'));
  });
});

describe('HTTP hardening with TRUST_PROXY=true', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: { TRUST_PROXY: 'true' } });
  });
  afterAll(() => t?.close());

  it('records the X-Forwarded-For client address as the session IP', async () => {
    const user = await newUser(t.http);
    const res = await loginFrom(t, user, '203.0.113.9');
    expect(res.status).toBe(200);
    expect(await recordedIp(t, res.body)).toBe('203.0.113.9');
  });

  it.each([
    ['a word', 'not-an-ip'],
    ['an out-of-range IPv4', '999.999.1.1'],
    ['an empty list', ' , ,'],
    ['markup', '<script>alert(1)</script>'],
    ['a bad IPv6', '::ffff:zz'],
    ['an IP with a port', '203.0.113.9:4711'],
    ['a very long value', `${'9'.repeat(3000)}`],
    ['SQL', "1.2.3.4'); drop table sessions; --"],
  ])('survives a garbage X-Forwarded-For (%s): the login succeeds and stores null or a valid IP', async (_what, header) => {
    const user = await newUser(t.http);
    const res = await loginFrom(t, user, header);
    expect(res.status).toBe(200);
    const ip = await recordedIp(t, res.body);
    if (ip !== null) expect(isIP(ip)).not.toBe(0);
  });
});
