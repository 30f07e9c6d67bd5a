/**
 * An issuing app (AuthModule, ES256, publishing its JWKS) and a resource server
 * (AuthModule.forResourceServer, no database) in one test, both listening on loopback ports: the
 * resource server fetches the issuer's JWKS over real HTTP and the requests go over real HTTP too.
 *
 * The resource server has no database, so it cannot see session revocation: a revoked session's
 * access token keeps working there until it expires (the last test shows this documented limit).
 *
 * The second block points resource servers at a local JWKS endpoint the test switches between
 * serving keys, answering 500 and hanging, to pin the cache policy: stale keys are served while a
 * refresh runs in the background, fetches are spaced by a backoff, and rotated keys still arrive.
 *
 * No test here waits for wall-clock time: each resource server's key cache (`RemoteJwksKeys`) runs
 * on a fake monotonic clock the test moves, so cache ages and backoff windows are exact whatever the
 * machine's load, and a background refresh is awaited (`settled()`), never slept on.
 */
import { Controller, Get, INestApplication, Logger } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { createHmac, generateKeyPairSync, JsonWebKey, KeyObject, randomUUID } from 'node:crypto';
import { createServer, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import * as jwt from 'jsonwebtoken';
import request from 'supertest';
import { AccessTokenKeys, AuthModule, AuthModuleOptions, AuthPrincipal, Clock, CurrentSession, CurrentUser, ResourceServerOptions, TokensDto } from '../src';
import { RemoteJwksKeys } from '../src/auth/remote-jwks';
import { uniqueEmail } from './support/factories';
import { freePort } from './support/net';
import { createTestDatabase, TestDatabase } from './support/test-database';

const ISSUER = 'https://issuer.example.test';
const AUDIENCE = 'orders-api';
const ACCESS_TTL_SECONDS = 120;
const MIN_REFETCH_MS = 1000;

/** Real time plus an offset the test moves forward. */
class ShiftedClock extends Clock {
  offsetMs = 0;
  override now(): Date {
    return new Date(Date.now() + this.offsetMs);
  }
}

@Controller('orders')
class OrdersController {
  @Get('mine')
  mine(@CurrentUser() user: AuthPrincipal, @CurrentSession() sessionId: string): { user: AuthPrincipal; sessionId: string } {
    return { user, sessionId };
  }
}

function newKeyPair(): { privateKeyPem: string; publicKey: KeyObject; privateKey: KeyObject } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return { privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), publicKey, privateKey };
}

const b64url = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/** A fake monotonic clock (milliseconds) for a resource server's key cache: it moves only when the test moves it. */
class FakeMonotonicClock {
  ms = 1_000_000;
  readonly now = (): number => this.ms;
  advance(ms: number): void {
    this.ms += ms;
  }
}

/**
 * A resource server module whose `RemoteJwksKeys` runs on `clock`: the module built by
 * `forResourceServer(options)`, with its keys provider replaced by an equally configured instance.
 */
async function compileResourceServer(options: ResourceServerOptions, clock: FakeMonotonicClock): Promise<{ app: INestApplication; keys: RemoteJwksKeys }> {
  const keys = new RemoteJwksKeys(options, { now: clock.now });
  const moduleRef = await Test.createTestingModule({
    imports: [AuthModule.forResourceServer(options)],
    controllers: [OrdersController],
  })
    .overrideProvider(AccessTokenKeys)
    .useValue(keys)
    .compile();
  // The override took: the guard verifies with this instance (else the fake clock would move nothing).
  expect(moduleRef.get(AccessTokenKeys)).toBe(keys);
  const app = moduleRef.createNestApplication({ logger: ['error'] });
  await app.listen(0, '127.0.0.1');
  return { app, keys };
}

interface Issuer {
  app: INestApplication;
  clock: ShiftedClock;
  url: string;
}

describe('resource server verifying the issuer’s tokens against its JWKS over HTTP', () => {
  let db: TestDatabase;
  let port: number;
  let jwksRequests = 0;
  let issuer: Issuer;
  let rs: INestApplication;
  /** The resource server's cache clock: the backoff between its fetches passes only when the test says so. */
  const rsClock = new FakeMonotonicClock();
  const k1 = newKeyPair();
  const k2 = newKeyPair();
  let user: { id: string; email: string; password: string };
  let k1Tokens: TokensDto;

  async function startIssuer(options: {
    privateKeyPem: string;
    keyId: string;
    previousPublicKeys?: NonNullable<AuthModuleOptions['accessToken']>['previousPublicKeys'];
  }): Promise<Issuer> {
    const clock = new ShiftedClock();
    const moduleRef = await Test.createTestingModule({
      imports: [
        AuthModule.forRoot({
          accessToken: {
            algorithm: 'ES256',
            privateKeyPem: options.privateKeyPem,
            keyId: options.keyId,
            previousPublicKeys: options.previousPublicKeys,
            issuer: ISSUER,
            audience: AUDIENCE,
            ttlSeconds: ACCESS_TTL_SECONDS,
          },
          refreshToken: { secret: 'issuer-refresh-secret-0123456789abcdef01234567' },
          bcryptCost: 4,
          database: { url: db.runtimeUrl },
          rateLimit: { loginPerIp: 10_000, loginPerAccount: 10_000, registerPerIp: 10_000, refreshPerIp: 10_000 },
        }),
      ],
    })
      .overrideProvider(Clock)
      .useValue(clock)
      .compile();
    const app = moduleRef.createNestApplication({ logger: ['error'] });
    // Counts the resource server's key fetches.
    app.use((req: { path: string; headers: Record<string, unknown> }, _res: unknown, next: () => void) => {
      if (req.path === '/.well-known/jwks.json' && !req.headers['x-test-probe']) jwksRequests++;
      next();
    });
    await app.listen(port, '127.0.0.1');
    return { app, clock, url: `http://127.0.0.1:${port}` };
  }

  async function jwks(): Promise<{ keys: (JsonWebKey & { kid: string })[] }> {
    // The test's own look, not counted as one of the resource server's fetches.
    const res = await fetch(`${issuer.url}/.well-known/jwks.json`, { headers: { 'x-test-probe': '1' } });
    expect(res.status).toBe(200);
    return (await res.json()) as { keys: (JsonWebKey & { kid: string })[] };
  }

  async function login(): Promise<TokensDto> {
    const res = await fetch(`${issuer.url}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: user.email, password: user.password }),
    });
    expect(res.status).toBe(200);
    return (await res.json()) as TokensDto;
  }

  /** Status of GET /auth/me on the issuer (its own verification plus its session check). */
  async function issuerStatus(token: string): Promise<number> {
    const res = await fetch(`${issuer.url}/auth/me`, { headers: { authorization: `Bearer ${token}` } });
    return res.status;
  }

  const onRs = (token: string) => request(rs.getHttpServer()).get('/orders/mine').set('Authorization', `Bearer ${token}`);

  /** A token signed by the test itself, valid unless `claims`/`options` say otherwise. */
  function sign(key: { privateKey: KeyObject }, kid: string, claims: Record<string, unknown> = {}, options: jwt.SignOptions = {}): string {
    const payload: Record<string, unknown> = { sub: user.id, sid: k1Tokens.sessionId, typ: 'access', ...claims };
    const defaults: jwt.SignOptions = { algorithm: 'ES256', keyid: kid, issuer: ISSUER, audience: AUDIENCE };
    if (payload.exp === undefined) defaults.expiresIn = 60;
    return jwt.sign(payload, key.privateKey, { ...defaults, ...options });
  }

  beforeAll(async () => {
    db = await createTestDatabase();
    port = await freePort();
    issuer = await startIssuer({ privateKeyPem: k1.privateKeyPem, keyId: 'k1' });
    ({ app: rs } = await compileResourceServer(
      { jwksUri: `http://127.0.0.1:${port}/.well-known/jwks.json`, issuer: ISSUER, audience: AUDIENCE, minRefetchIntervalMs: MIN_REFETCH_MS },
      rsClock,
    ));

    const email = uniqueEmail('rs');
    const password = 'resource-server-pw-1';
    const registered = await fetch(`${issuer.url}/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password }),
    });
    expect(registered.status).toBe(201);
    user = { id: ((await registered.json()) as { id: string }).id, email, password };
    k1Tokens = await login();
  });

  afterAll(async () => {
    await rs?.close();
    await issuer?.app.close();
    await db?.drop();
  });

  it('publishes the ES256 public key with kid k1 at /.well-known/jwks.json, without the private part', async () => {
    const { keys } = await jwks();
    const { x, y } = k1.publicKey.export({ format: 'jwk' });
    expect(keys).toEqual([{ kty: 'EC', crv: 'P-256', x, y, kid: 'k1', alg: 'ES256', use: 'sig' }]);
    expect(keys[0]).not.toHaveProperty('d');
  });

  it('accepts a token from the issuer’s login on the resource server: 200 with @CurrentUser and @CurrentSession filled', async () => {
    const before = jwksRequests;
    const res = await onRs(k1Tokens.accessToken).expect(200);
    expect(res.body).toEqual({ user: { userId: user.id, sessionId: k1Tokens.sessionId }, sessionId: k1Tokens.sessionId });
    expect(jwksRequests - before).toBe(1); // the resource server's first request fetched the key set
    await onRs(k1Tokens.accessToken).expect(200);
    await onRs(sign(k1, 'k1')).expect(200); // the test's own signing works too (control for the refusals below)
    expect(jwksRequests - before).toBe(1); // known kid: served from the cache
  });

  it('refuses requests without a token or with a malformed one', async () => {
    await request(rs.getHttpServer()).get('/orders/mine').expect(401);
    await onRs('not.a.jwt').expect(401);
  });

  it('refuses a token whose payload was altered (signature no longer matches)', async () => {
    const [header, payload, signature] = k1Tokens.accessToken.split('.');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    const forged = `${header}.${b64url({ ...claims, sub: randomUUID() })}.${signature}`;
    await onRs(forged).expect(401);
    const extended = `${header}.${b64url({ ...claims, exp: claims.exp + 3600 })}.${signature}`;
    await onRs(extended).expect(401);
  });

  it('refuses a token whose signature was altered', async () => {
    const [header, payload, signature] = k1Tokens.accessToken.split('.');
    const bytes = Buffer.from(signature, 'base64url');
    bytes[10] ^= 0x01;
    await onRs(`${header}.${payload}.${bytes.toString('base64url')}`).expect(401);
    await onRs(`${header}.${payload}.`).expect(401);
  });

  it('refuses an expired token signed with the issuer’s own key', async () => {
    const now = Math.floor(Date.now() / 1000);
    await onRs(sign(k1, 'k1', { iat: now - 300, exp: now - 60 })).expect(401);
  });

  it('refuses a token for another audience or from another issuer, signed with the issuer’s own key', async () => {
    await onRs(sign(k1, 'k1', {}, { audience: 'billing-api' })).expect(401);
    await onRs(sign(k1, 'k1', {}, { issuer: 'https://evil.example.test' })).expect(401);
  });

  it('refuses an unsigned token (alg: none), with or without a kid', async () => {
    const now = Math.floor(Date.now() / 1000);
    const claims = { sub: user.id, sid: k1Tokens.sessionId, typ: 'access', iss: ISSUER, aud: AUDIENCE, iat: now, exp: now + 60 };
    await onRs(`${b64url({ alg: 'none', typ: 'JWT', kid: 'k1' })}.${b64url(claims)}.`).expect(401);
    await onRs(`${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(claims)}.`).expect(401);
    expect(await issuerStatus(`${b64url({ alg: 'none', typ: 'JWT', kid: 'k1' })}.${b64url(claims)}.`)).toBe(401);
  });

  it('refuses an HS256 token keyed with the published public key (algorithm confusion) on the resource server and on the issuer', async () => {
    const now = Math.floor(Date.now() / 1000);
    const claims = { sub: user.id, sid: k1Tokens.sessionId, typ: 'access', iss: ISSUER, aud: AUDIENCE, iat: now, exp: now + 60 };
    const publicPem = k1.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const { keys } = await jwks();
    for (const [secret, header] of [
      [publicPem, { alg: 'HS256', typ: 'JWT', kid: 'k1' }],
      [publicPem, { alg: 'HS256', typ: 'JWT' }],
      [JSON.stringify(keys[0]), { alg: 'HS256', typ: 'JWT', kid: 'k1' }],
    ] as const) {
      const input = `${b64url(header)}.${b64url(claims)}`;
      const token = `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
      await onRs(token).expect(401);
      expect(await issuerStatus(token)).toBe(401);
    }
    // Control: the issuer accepts its own token on the same route.
    expect(await issuerStatus(k1Tokens.accessToken)).toBe(200);
  });

  it('refuses a token with an unknown kid, refetching the JWKS at most once per minRefetchIntervalMs', async () => {
    const stranger = newKeyPair();
    rsClock.advance(MIN_REFETCH_MS); // past the backoff after any earlier fetch
    const before = jwksRequests;
    const burst = await Promise.all(Array.from({ length: 10 }, (_, i) => onRs(sign(stranger, `forged-${i}`))));
    expect(burst.map((r) => r.status)).toEqual(Array(10).fill(401));
    for (let i = 0; i < 5; i++) await onRs(sign(stranger, `forged-seq-${i}`)).expect(401);
    await onRs(sign(stranger, 'k1')).expect(401); // a known kid with the wrong key: no fetch either
    expect(jwksRequests - before).toBe(1);

    rsClock.advance(MIN_REFETCH_MS - 1); // the backoff is not over yet
    await onRs(sign(stranger, 'forged-almost')).expect(401);
    expect(jwksRequests - before).toBe(1);
    rsClock.advance(1);
    await onRs(sign(stranger, 'forged-later')).expect(401);
    expect(jwksRequests - before).toBe(2);
    // Valid tokens keep working throughout.
    await onRs(k1Tokens.accessToken).expect(200);
  });

  it('after rotation to k2 on a restarted issuer: k1 tokens keep verifying until they expire, k2 tokens verify after one refetch, then k1 is retired', async () => {
    await onRs(k1Tokens.accessToken).expect(200); // the resource server has k1 (fetched now or earlier)
    const [oldJwk] = (await jwks()).keys;
    expect(oldJwk.kid).toBe('k1');
    const rotatedAt = new Date().toISOString();
    await issuer.app.close();
    issuer = await startIssuer({ privateKeyPem: k2.privateKeyPem, keyId: 'k2', previousPublicKeys: [{ ...oldJwk, kid: 'k1', rotatedAt }] });

    expect((await jwks()).keys.map((k) => k.kid)).toEqual(['k2', 'k1']);
    const fetchesBefore = jwksRequests;
    // The resource server still has k1 cached.
    await onRs(k1Tokens.accessToken).expect(200);
    expect(jwksRequests).toBe(fetchesBefore);

    const k2Tokens = await login();
    expect(JSON.parse(Buffer.from(k2Tokens.accessToken.split('.')[0], 'base64url').toString()).kid).toBe('k2');
    rsClock.advance(MIN_REFETCH_MS); // the unknown-kid test's last fetch must be far enough back
    const res = await onRs(k2Tokens.accessToken).expect(200);
    expect(res.body.sessionId).toBe(k2Tokens.sessionId);
    expect(jwksRequests - fetchesBefore).toBe(1);
    // The refetched set still has k1: the old token keeps verifying, without another fetch.
    await onRs(k1Tokens.accessToken).expect(200);
    expect(jwksRequests - fetchesBefore).toBe(1);
    // And the issuer itself accepts both.
    expect(await issuerStatus(k1Tokens.accessToken)).toBe(200);
    expect(await issuerStatus(k2Tokens.accessToken)).toBe(200);

    // Past rotatedAt + access TTL every k1 token has expired: the issuer stops publishing and accepting k1.
    issuer.clock.offsetMs = (ACCESS_TTL_SECONDS + 1) * 1000;
    expect((await jwks()).keys.map((k) => k.kid)).toEqual(['k2']);
    expect(await issuerStatus(k1Tokens.accessToken)).toBe(401);
    expect(await issuerStatus(k2Tokens.accessToken)).toBe(200);

    // Once the resource server next refetches (here: an unknown kid), it drops k1 too.
    rsClock.advance(MIN_REFETCH_MS);
    await onRs(sign(newKeyPair(), 'k3-not-yet')).expect(401);
    expect(jwksRequests - fetchesBefore).toBe(2);
    await onRs(k1Tokens.accessToken).expect(401);
    await onRs(k2Tokens.accessToken).expect(200);
  });

  it('does not see session revocation (no database): a logged-out session’s access token passes until it expires', async () => {
    // Back to real time (the rotation test moved the issuer 121 s ahead): the resource server refuses
    // a token issued more than 60 s after its own now, and this test is about revocation, not skew.
    issuer.clock.offsetMs = 0;
    const tokens = await login();
    await onRs(tokens.accessToken).expect(200);
    const logout = await fetch(`${issuer.url}/auth/logout`, { method: 'POST', headers: { authorization: `Bearer ${tokens.accessToken}` } });
    expect(logout.status).toBe(204);
    expect(await issuerStatus(tokens.accessToken)).toBe(401);
    await onRs(tokens.accessToken).expect(200);
  });
});

describe('resource server JWKS cache against an endpoint that fails or hangs (stale-while-revalidate with backoff)', () => {
  type PublishedJwk = JsonWebKey & { kid: string };
  const k1 = newKeyPair();
  const k2 = newKeyPair();
  const publicJwk = (key: { publicKey: KeyObject }, kid: string): PublishedJwk => ({ ...key.publicKey.export({ format: 'jwk' }), kid, alg: 'ES256', use: 'sig' });

  /** What the local JWKS endpoint does with the next request. */
  let mode: 'keys' | 'error' | 'hang';
  let published: PublishedJwk[];
  /** Requests the endpoint received (the resource server's fetches: nothing else calls it). */
  let fetches: number;
  /** Requests held unanswered in mode 'hang'; `clientClosed` turns true if the fetching side gives up. */
  const held: { res: ServerResponse; clientClosed: boolean }[] = [];
  let jwksServer: Server;
  let jwksUri: string;
  let rs: INestApplication | undefined;
  /** The resource server's key cache, and the fake clock its cache ages and backoff windows are measured on. */
  let keys: RemoteJwksKeys | undefined;
  let clock: FakeMonotonicClock;
  // No background fetch may end in an unhandled rejection: Jest fails the running test when one
  // occurs (seen when fetchKeys was made to rethrow), so every test here checks that as well.
  let warnSpy: jest.SpyInstance;

  /**
   * Waits for something the test cannot await directly (a request reaching the JWKS endpoint) by
   * polling, up to a generous bound; not a timing assertion.
   */
  async function until(condition: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + 15_000;
    while (!condition() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    if (!condition()) throw new Error(`gave up waiting for ${what}`);
  }

  /**
   * Waits until the fetch a request may have started behind its answer (a background refresh) has
   * ended, its outcome recorded and any warning logged, so fetch counts are final and the attempt's
   * end time is taken before the test moves the clock on.
   */
  const settled = (): Promise<void> => keys!.settled();

  /** The resource server's JWKS warnings (Logger.warn calls from the RemoteJwks logger). */
  function jwksWarnings(): string[] {
    return warnSpy.mock.calls
      .filter((_, i) => (warnSpy.mock.contexts[i] as { context?: string }).context === 'RemoteJwks')
      .map((args) => String(args[0]));
  }

  async function startRs(options: Partial<ResourceServerOptions>): Promise<void> {
    ({ app: rs, keys } = await compileResourceServer({ jwksUri, issuer: ISSUER, audience: AUDIENCE, ...options }, clock));
  }

  const onRs = (token: string) => request(rs!.getHttpServer()).get('/orders/mine').set('Authorization', `Bearer ${token}`);

  /** A request with a cached kid, then whatever refresh it started behind its answer. Returns the status. */
  async function knownKidRequest(token: string): Promise<number> {
    const { status } = await onRs(token);
    await settled();
    return status;
  }

  const sign = (key: { privateKey: KeyObject }, kid: string): string =>
    jwt.sign({ sub: randomUUID(), sid: randomUUID(), typ: 'access' }, key.privateKey, {
      algorithm: 'ES256',
      keyid: kid,
      issuer: ISSUER,
      audience: AUDIENCE,
      expiresIn: 60,
    });

  function releaseHeld(): void {
    for (const { res } of held.splice(0)) if (!res.writableEnded) res.writeHead(503).end();
  }

  beforeAll(async () => {
    jwksServer = createServer((_req, res) => {
      fetches++;
      if (mode === 'hang') {
        const entry = { res, clientClosed: false };
        res.on('close', () => (entry.clientClosed = true));
        held.push(entry);
      } else if (mode === 'error') {
        res.writeHead(500, { 'content-type': 'text/plain' }).end('internal error');
      } else {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: published }));
      }
    });
    await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
    jwksUri = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/.well-known/jwks.json`;
  });

  beforeEach(() => {
    mode = 'keys';
    published = [publicJwk(k1, 'k1')];
    fetches = 0;
    clock = new FakeMonotonicClock();
    warnSpy = jest.spyOn(Logger.prototype, 'warn');
  });

  afterEach(async () => {
    // A fetch still in flight (a test that failed half-way may have left one) ends within its own
    // test, so its warning cannot land in the next test's spy: held requests are answered, and one
    // still on its way is answered at once (mode 'error').
    mode = 'error';
    releaseHeld();
    await keys?.settled();
    await rs?.close();
    rs = undefined;
    keys = undefined;
    jest.restoreAllMocks();
  });

  afterAll(async () => {
    jwksServer.closeAllConnections();
    await new Promise((resolve) => jwksServer.close(resolve));
  });

  it('while the endpoint answers 500 and the cache is stale: 20 known-kid requests answer 200 from the cache, with 1 fetch and 1 warning', async () => {
    await startRs({ cacheMaxAgeMs: 100, minRefetchIntervalMs: 1000 });
    const token = sign(k1, 'k1');
    await onRs(token).expect(200);
    expect(fetches).toBe(1); // first use: the request waited for the fetch

    mode = 'error';
    clock.advance(999); // stale (100 ms) but still inside the backoff after the first fetch (1000 ms)
    expect(await knownKidRequest(token)).toBe(200);
    expect(fetches).toBe(1);
    clock.advance(1); // the backoff is over
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) statuses.push((await onRs(token)).status);
    await settled();
    expect(statuses).toEqual(Array(20).fill(200));
    // The first of them started one background refresh; it failed, and no attempt may start within
    // minRefetchIntervalMs of a failed one: exactly one more fetch, whatever the requests' count.
    expect(fetches).toBe(2);
    expect(jwksWarnings()).toHaveLength(1);
    expect(jwksWarnings()[0]).toContain('HTTP 500');
    const { x, y } = k1.publicKey.export({ format: 'jwk' });
    for (const message of jwksWarnings()) {
      expect(message).not.toContain(x);
      expect(message).not.toContain(y);
    }
  });

  it('backs off after failed fetches: minRefetchIntervalMs after one failure, twice that after two, minRefetchIntervalMs again after a success', async () => {
    const MIN = 500;
    await startRs({ cacheMaxAgeMs: 0, minRefetchIntervalMs: MIN }); // always stale: only the backoff spaces the fetches
    const token = sign(k1, 'k1');
    await onRs(token).expect(200);
    expect(await knownKidRequest(token)).toBe(200);
    expect(fetches).toBe(1); // within MIN of the first fetch: no second one

    mode = 'error';
    clock.advance(MIN - 1);
    expect(await knownKidRequest(token)).toBe(200);
    expect(fetches).toBe(1); // MIN after a success: not over yet
    clock.advance(1);
    expect(await knownKidRequest(token)).toBe(200);
    expect(fetches).toBe(2); // failure 1
    expect(jwksWarnings()).toHaveLength(1);

    clock.advance(MIN - 1); // the wait after one failure is MIN: not over yet
    expect(await knownKidRequest(token)).toBe(200);
    expect(fetches).toBe(2);
    clock.advance(1);
    expect(await knownKidRequest(token)).toBe(200);
    expect(fetches).toBe(3); // failure 2
    expect(jwksWarnings()).toHaveLength(2);

    clock.advance(2 * MIN - 1); // the wait after two failures is 2 × MIN: not over yet
    expect(await knownKidRequest(token)).toBe(200);
    expect(fetches).toBe(3);

    mode = 'keys';
    clock.advance(1); // now 2 × MIN after failure 2
    expect(await knownKidRequest(token)).toBe(200);
    expect(fetches).toBe(4); // succeeded in the background
    clock.advance(MIN - 1); // after a success the wait is MIN again
    expect(await knownKidRequest(token)).toBe(200);
    expect(fetches).toBe(4);
    clock.advance(1);
    expect(await knownKidRequest(token)).toBe(200);
    expect(fetches).toBe(5);
    expect(jwksWarnings()).toHaveLength(2);
  });

  it('while the endpoint hangs and the cache is stale: known-kid requests answer 200 while the one fetch is still pending', async () => {
    // The fetch timeout is far beyond the test's: the hanging fetch cannot end before the test releases it.
    await startRs({ cacheMaxAgeMs: 0, minRefetchIntervalMs: 200, fetchTimeoutMs: 600_000 });
    // Counts the fetches the resource server starts, at the moment it starts them (the endpoint's
    // count lags behind by the connection's set-up).
    const fetchStarts = jest.spyOn(globalThis, 'fetch');
    const token = sign(k1, 'k1');
    await onRs(token).expect(200);
    expect(fetches).toBe(1);
    expect(fetchStarts).toHaveBeenCalledTimes(1);

    mode = 'hang';
    clock.advance(200); // past the backoff after the first fetch; from here on every request may fetch
    await onRs(token).expect(200); // starts the background refresh, which hangs
    expect(fetchStarts).toHaveBeenCalledTimes(2);
    await until(() => held.length === 1, 'the endpoint to receive the refresh');
    for (let i = 0; i < 5; i++) {
      clock.advance(1000); // even far past the backoff, the one pending fetch is shared, not repeated
      await onRs(token).expect(200);
    }
    // Answered while the fetch is pending: the endpoint has not answered it and the resource server
    // has not given up on it; and nobody started a second one.
    expect(fetchStarts).toHaveBeenCalledTimes(2);
    expect(held).toHaveLength(1);
    expect(held[0].res.writableEnded).toBe(false);
    expect(held[0].clientClosed).toBe(false);
    expect(fetches).toBe(2);

    // Released, the fetch fails (503) quietly: one warning, no unhandled rejection.
    releaseHeld();
    await settled();
    expect(jwksWarnings()).toHaveLength(1);
    expect(jwksWarnings()[0]).toContain('HTTP 503');
    await onRs(token).expect(200);
  });

  it('picks up a rotated key (new kid) as soon as the backoff allows, also after a failed attempt', async () => {
    await startRs({ minRefetchIntervalMs: 500 }); // default cacheMaxAgeMs (10 minutes): the unknown kid alone triggers fetches
    await onRs(sign(k1, 'k1')).expect(200);
    expect(fetches).toBe(1);
    published = [publicJwk(k2, 'k2'), publicJwk(k1, 'k1')];
    const k2Token = sign(k2, 'k2');

    clock.advance(499);
    await onRs(k2Token).expect(401); // within the backoff after the first fetch: no fetch
    expect(fetches).toBe(1);

    mode = 'error';
    clock.advance(1);
    await onRs(k2Token).expect(401); // an unknown kid waits for the fetch; it fails
    expect(fetches).toBe(2);
    expect(jwksWarnings()).toHaveLength(1);

    mode = 'keys';
    await onRs(k2Token).expect(401); // within the backoff after the failure: no fetch
    clock.advance(499);
    await onRs(k2Token).expect(401);
    expect(fetches).toBe(2);

    clock.advance(1);
    await onRs(k2Token).expect(200); // waited for the fetch that brought k2
    expect(fetches).toBe(3);
    await onRs(sign(k1, 'k1')).expect(200);
    await onRs(k2Token).expect(200);
    expect(fetches).toBe(3);
  });

  it('on first use with the endpoint failing: 401 without a fetch per request, then keys once the endpoint recovers and the backoff allows', async () => {
    await startRs({ minRefetchIntervalMs: 500 });
    mode = 'error';
    const token = sign(k1, 'k1');
    await onRs(token).expect(401);
    expect(fetches).toBe(1);
    for (let i = 0; i < 5; i++) await onRs(token).expect(401);
    expect(fetches).toBe(1);

    mode = 'keys';
    clock.advance(499);
    await onRs(token).expect(401); // recovered, but the backoff after the failure is not over
    expect(fetches).toBe(1);
    clock.advance(1);
    await onRs(token).expect(200);
    expect(fetches).toBe(2);
  });
});
