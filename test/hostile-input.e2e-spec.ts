import fc from 'fast-check';
import { isIP } from 'node:net';
import { Client } from 'pg';
import { CONTROL_CHARACTER as CONTROL } from '../src/core/validation';
import { appRoutes } from './support/app-routes';
import { bearer, login, newUser, TestUser, Tokens } from './support/factories';
import {
  deepJson,
  encodePart,
  FORWARDED_FOR_EXAMPLES,
  forwardedFor,
  hasLoneSurrogate,
  headerString,
  idGarbage,
  ILL_FORMED,
  illFormed,
  malformedJson,
  nonString,
  randomJsonText,
  SQLISH,
  unicodeEdgeString,
} from './support/hostile-arbitraries';
import { check, expectWellBehaved, HostileRequest, Method, namesField, request, send, snapshot } from './support/hostile-requests';
import { createTestApp, TestApp } from './support/test-app';

/**
 * Property-based hostile input over every route of the REST contract. Each property holds for every
 * request: never a 5xx; nothing internal in the body (stack frames, SQL or driver text, file paths);
 * errors in the standard `{statusCode, message, error}` shape; and a request that is refused leaves
 * the `users` and `sessions` tables exactly as they were (compared row by row, all columns, as the
 * owner, around every single request).
 *
 * Every route comes from one table, built once from the routes Nest serves (see "The route table").
 * The request and response checks are in support/hostile-requests.ts, the generators in
 * support/hostile-arbitraries.ts.
 *
 * The runs are reproducible: the seed is fixed, and fast-check prints it (with the path) for any
 * counterexample. FC_SEED replays or varies it; FC_SCALE multiplies every property's run count
 * (e.g. FC_SCALE=10 for a longer exploration; the default keeps the file well under a minute).
 */

/** BODY_LIMIT's default, in bytes (body-parser's '16kb'). */
const BODY_LIMIT_BYTES = 16 * 1024;
/** Rate limits far above what these properties send, so no request is refused for its rate. */
const NO_RATE_LIMITS = {
  RATE_LIMIT_LOGIN_PER_IP: '1000000',
  RATE_LIMIT_LOGIN_PER_ACCOUNT: '1000000',
  RATE_LIMIT_REGISTER_PER_IP: '1000000',
  RATE_LIMIT_REFRESH_PER_IP: '1000000',
};

/**
 * Body and query keys that are dropped without a 400 although `forbidNonWhitelisted` is on: Nest's
 * ValidationPipe deletes __proto__, prototype and constructor, and class-transformer skips any key
 * whose value on the instance is a function (every Object.prototype method). They are covered by
 * their own test below (ignored, harmless), and kept out of the "extra field is refused" properties.
 */
const IGNORED_KEYS = new Set(['__proto__', 'prototype', 'constructor', ...Object.getOwnPropertyNames(Object.prototype)]);

// ---------------------------------------------------------------------------------------------

describe('hostile input over the REST contract', () => {
  let t: TestApp;
  let owner: Client;
  let a: TestUser;
  let b: TestUser;
  let aTokens: Tokens;
  let aSecond: Tokens;
  let bTokens: Tokens;
  let fresh = 0;
  /** A new, unused email for each generated registration (deterministic for a given seed). */
  const freshEmail = (): string => `hostile-${process.pid}-${++fresh}@example.test`;

  beforeAll(async () => {
    t = await createTestApp({ env: NO_RATE_LIMITS });
    owner = new Client({ connectionString: t.db.ownerUrl });
    await owner.connect();
    a = await newUser(t.http, { displayName: 'Alice' });
    b = await newUser(t.http, { displayName: 'Bob' });
    aTokens = await login(t.http, a, { deviceName: 'A laptop' });
    aSecond = await login(t.http, a, { deviceName: 'A phone' });
    bTokens = await login(t.http, b, { deviceName: 'B phone' });
  });
  afterAll(async () => {
    await owner?.end();
    await t?.close();
  });

  /** Sends each generated request and checks the universal properties and that the database did not change. */
  const rejectedWithoutTrace = (r: HostileRequest): Promise<void> =>
    (async () => {
      const before = await snapshot(owner);
      const res = await send(t, r);
      expectWellBehaved(res, r);
      expect(await snapshot(owner)).toEqual(before);
    })();

  // -------------------------------------------------------------------------------------------
  // The route table: every route Nest serves (from its own route metadata), with what hostile input
  // needs to know about it. A route that reads a body has a template: a valid request, so that one
  // hostile change is the only reason it can be refused (and accepting it would show in the
  // database). A route Nest serves without an entry here fails the first test.
  // -------------------------------------------------------------------------------------------

  interface Field {
    name: string;
    required: boolean;
    /** What a NUL in this field gets: 400 naming the field, or 401 where the value is a credential looked up as is. */
    onNul: 400 | 401;
  }
  /** Whose account and sessions a request acts on. */
  interface Principal {
    user: TestUser;
    tokens: Tokens;
    second: Tokens;
  }
  interface RouteSpec {
    /** A valid body for the principal, and its fields (routes without one ignore their body). */
    body?: (p: Principal) => Record<string, unknown>;
    fields?: Field[];
    /** A valid query string, for a route that reads one. */
    query?: string;
  }
  const CONTRACT: Record<string, RouteSpec> = {
    'POST /auth/register': {
      body: () => ({ email: freshEmail(), password: 'valid-password-1', displayName: 'New Person' }),
      fields: [
        { name: 'email', required: true, onNul: 400 },
        { name: 'password', required: true, onNul: 400 },
        { name: 'displayName', required: false, onNul: 400 },
      ],
    },
    'POST /auth/login': {
      body: (p) => ({ email: p.user.email, password: p.user.password, deviceName: 'Hostile device', deviceType: 'web' }),
      fields: [
        // Refused by validation (no control characters), like every other text field.
        { name: 'email', required: true, onNul: 400 },
        { name: 'password', required: true, onNul: 400 },
        { name: 'deviceName', required: false, onNul: 400 },
        { name: 'deviceType', required: false, onNul: 400 },
      ],
    },
    'POST /auth/refresh': { body: (p) => ({ refreshToken: p.tokens.refreshToken }), fields: [{ name: 'refreshToken', required: true, onNul: 401 }] },
    'POST /auth/password': {
      body: (p) => ({ currentPassword: p.user.password, newPassword: 'another-valid-password' }),
      fields: [
        { name: 'currentPassword', required: true, onNul: 400 },
        { name: 'newPassword', required: true, onNul: 400 },
      ],
    },
    'PATCH /sessions/:id': { body: () => ({ deviceName: 'Renamed by a hostile request' }), fields: [{ name: 'deviceName', required: true, onNul: 400 }] },
    'POST /auth/logout': {},
    'GET /auth/me': {},
    'GET /sessions': {},
    'DELETE /sessions': { query: 'includeCurrent=true' },
    'GET /sessions/:id': {},
    'DELETE /sessions/:id': {},
    'GET /health': {},
    'GET /.well-known/jwks.json': {},
    'GET /auth/events': {},
    // The admin routes (Alice is no admin: each answers 403, never anything else, whatever is sent).
    'GET /admin/users/:userId/sessions': {},
    'DELETE /admin/users/:userId/sessions': {},
    'DELETE /admin/sessions/:sessionId': {},
    'GET /admin/sessions': { query: 'ip=127.0.0.0/8' },
    'DELETE /admin/sessions': { query: 'ip=127.0.0.0/8' },
    'POST /admin/users/:userId/deactivate': {},
    'POST /admin/users/:userId/reactivate': {},
    'GET /admin/users/:userId/events': {},
  };
  interface Route extends RouteSpec {
    key: string;
    method: Method;
    /** Nest's pattern: `/sessions/:id`. */
    path: string;
    isPublic: boolean;
  }
  type Template = Route & Required<Pick<RouteSpec, 'body' | 'fields'>>;
  /** Built once from Nest's routes (beforeAll), used by every property. */
  let routes: Route[] = [];
  const alice = (): Principal => ({ user: a, tokens: aTokens, second: aSecond });

  beforeAll(() => {
    routes = appRoutes(t.app).map((r) => {
      const route: Route = { ...CONTRACT[r.key], key: r.key, method: r.method.toLowerCase() as Method, path: r.path, isPublic: r.isPublic };
      // Counterexamples name the route instead of printing its functions.
      Object.defineProperty(route, fc.toStringMethod, { value: () => route.key, enumerable: false });
      return route;
    });
  });

  /**
   * A request of `route`: signed in as `as` (Alice) unless the route is public or `anonymous`, with
   * `:id` filled by `sessionId` (the principal's second session by default).
   */
  function target(
    route: Route,
    { as = alice(), anonymous = route.isPublic, sessionId = as.second.sessionId }: { as?: Principal; anonymous?: boolean; sessionId?: string } = {},
  ): Pick<HostileRequest, 'method' | 'path' | 'headers'> {
    return {
      method: route.method,
      path: route.path.replace(':id', sessionId).replace(':sessionId', sessionId).replace(':userId', as.user.id),
      headers: anonymous ? {} : { Authorization: `Bearer ${as.tokens.accessToken}` },
    };
  }
  const isAdmin = (r: Route): boolean => r.path.startsWith('/admin/');
  const hasId = (r: Route): boolean => /:(id|sessionId)\b/.test(r.path);
  const templates = (): Template[] => routes.filter((r): r is Template => r.body !== undefined);
  const templateArb = () => fc.constantFrom(...templates());
  const templateField = () => templateArb().chain((tpl) => fc.constantFrom(...tpl.fields).map((field) => ({ tpl, field })));
  /** Every route, signed in and (where it matters) not. */
  const everyRoute = () => routes.flatMap((r) => (r.isPublic ? [target(r)] : [target(r), target(r, { anonymous: true })]));

  it('describes every route Nest serves, and nothing else', () => {
    expect(routes.map((r) => r.key).sort()).toEqual(Object.keys(CONTRACT).sort());
    expect(routes.filter((r) => /:(?!(id|sessionId|userId)\b)/.test(r.path)).map((r) => r.key)).toEqual([]); // the parameters `target` fills
    expect(routes.filter((r) => r.isPublic).map((r) => r.key).sort()).toEqual(
      // Logout is public to the global guard: its own guard takes the bearer token or the refresh cookie.
      ['GET /.well-known/jwks.json', 'GET /health', 'POST /auth/login', 'POST /auth/logout', 'POST /auth/refresh', 'POST /auth/register'],
    );
  });

  it('accepts every template sent unchanged (control: in the properties below, the hostile change is why a request is refused)', async () => {
    // Done for a throwaway account, so Alice's tokens and sessions stay as the properties expect.
    const carol = await newUser(t.http);
    const p: Principal = { user: carol, tokens: await login(t.http, carol), second: await login(t.http, carol) };
    const expected: Record<string, number> = {
      'POST /auth/register': 201,
      'POST /auth/login': 200,
      'POST /auth/refresh': 200,
      'POST /auth/password': 204,
      'PATCH /sessions/:id': 200,
    };
    expect(templates().map((tpl) => tpl.key).sort()).toEqual(Object.keys(expected).sort());
    // The password change revokes the other sessions, so it goes last.
    for (const tpl of templates().sort((x, y) => Number(x.key === 'POST /auth/password') - Number(y.key === 'POST /auth/password'))) {
      expect(Object.keys(tpl.body(p)).sort()).toEqual(tpl.fields.map((f) => f.name).sort());
      const res = await send(t, request({ ...target(tpl, { as: p }), body: JSON.stringify(tpl.body(p)), mayAccept: true }));
      expect(`${tpl.key} ${res.status}`).toBe(`${tpl.key} ${expected[tpl.key]}`);
    }
  });

  describe('requests that must be refused leave the database exactly as it was', () => {
    it('answers random JSON values (fc.jsonValue, fc.anything) on every route, authenticated or not, with a clean 4xx (2xx only for reads)', async () => {
      // Every route anonymously; as Alice where a body cannot make the request succeed (the route
      // reads one, or only reads: a logout or a deletion with a bearer ignores its body and succeeds);
      // and as Alice on Bob's session.
      const targets = routes.flatMap((r) => [
        target(r, { anonymous: true }),
        ...(!r.isPublic && (r.body || r.method === 'get') ? [target(r)] : []),
        ...(hasId(r) ? [target(r, { sessionId: bTokens.sessionId })] : []),
      ]);
      await check(fc.tuple(fc.constantFrom(...targets), randomJsonText), 80, ([to, body]) => rejectedWithoutTrace(request({ ...to, body })));
    });

    it('answers a wrong type for any field, a missing required field or an extra field with a 400 that names it', async () => {
      const change = templateArb().chain((tpl) =>
        fc.oneof(
          fc.constantFrom(...tpl.fields).chain((f) =>
            nonString(f.required).map((value) => ({ tpl, kind: 'wrong type' as const, field: f.name, value })),
          ),
          fc.constantFrom(...tpl.fields.filter((f) => f.required)).map((f) => ({ tpl, kind: 'missing' as const, field: f.name, value: undefined })),
          fc
            .tuple(
              fc.oneof(fc.string({ minLength: 1, maxLength: 30 }), unicodeEdgeString, fc.constantFrom('isAdmin', 'userId', 'id', 'role', 'is_active', 'password_hash', 'email ', 'EMAIL', '__proto__ ', 'Constructor')),
              fc.jsonValue({ maxDepth: 2 }),
            )
            .filter(([key]) => !tpl.fields.some((f) => f.name === key) && !IGNORED_KEYS.has(key) && !hasLoneSurrogate(key))
            .map(([key, value]) => ({ tpl, kind: 'extra' as const, field: key, value })),
        ),
      );
      await check(change, 80, ({ tpl, kind, field, value }) => {
        const body: Record<string, unknown> = tpl.body(alice());
        if (kind === 'missing') delete body[field];
        else body[field] = value;
        return rejectedWithoutTrace(
          request({
            ...target(tpl),
            body: JSON.stringify(body),
            status: [400],
            expectBody:
              kind === 'extra'
                ? (res) => expect(([] as unknown[]).concat(res.message)).toContain(`property ${field} should not exist`)
                : namesField(field),
          }),
        );
      });
    });

    it('refuses a NUL byte anywhere in any string field (emails, passwords, deviceName, displayName, refreshToken) before it reaches the database', async () => {
      await check(fc.tuple(templateField(), fc.nat(), fc.integer({ min: 1, max: 3 })), 50, ([{ tpl, field }, at, count]) => {
        const body = tpl.body(alice());
        const value = String(body[field.name]);
        const i = at % (value.length + 1);
        body[field.name] = value.slice(0, i) + '\u0000'.repeat(count) + value.slice(i);
        return rejectedWithoutTrace(
          request({
            ...target(tpl),
            body: JSON.stringify(body),
            status: [field.onNul],
            expectBody: field.onNul === 400 ? namesField(field.name) : undefined,
          }),
        );
      });
    });

    it('answers huge strings (10k to 100k characters) in any field with 400 within BODY_LIMIT and 413 beyond it', async () => {
      const filler = fc.constantFrom('x', '😀', 'é', '\u200b', 'e\u0301', '\\', '"', "' or 1=1 --");
      await check(fc.tuple(templateField(), fc.integer({ min: 10_000, max: 100_000 }), filler), 40, ([{ tpl, field }, length, unit]) => {
        const body = tpl.body(alice());
        body[field.name] = unit.repeat(Math.ceil(length / unit.length)).slice(0, length);
        const text = JSON.stringify(body);
        const tooLarge = Buffer.byteLength(text) > BODY_LIMIT_BYTES;
        return rejectedWithoutTrace(
          request({
            ...target(tpl),
            body: text,
            status: [tooLarge ? 413 : 400],
            expectBody: tooLarge
              ? (res) => expect(res).toEqual({ statusCode: 413, message: 'Request body too large', error: 'Payload Too Large' })
              : namesField(field.name),
          }),
        );
      });
    });

    it('answers malformed JSON sent as application/json with 400 "Malformed JSON body" on every route, signed in or not', async () => {
      const valid = templates().map((tpl) => JSON.stringify(tpl.body(alice())));
      await check(fc.tuple(fc.constantFrom(...everyRoute()), malformedJson(valid)), 60, ([to, text]) =>
        rejectedWithoutTrace(
          request({
            ...to,
            body: text,
            mayAccept: false,
            status: [400],
            expectBody: (res) => expect(res).toEqual({ statusCode: 400, message: 'Malformed JSON body', error: 'Bad Request' }),
          }),
        ),
      );
    });

    it('refuses JSON nested deeper than the limit (up to 9000 levels) with a 400, or 413 beyond BODY_LIMIT, on every route, signed in or not', async () => {
      await check(fc.tuple(fc.constantFrom(...everyRoute()), deepJson), 40, ([to, text]) => {
        const tooLarge = Buffer.byteLength(text) > BODY_LIMIT_BYTES;
        return rejectedWithoutTrace(
          request({
            ...to,
            body: text,
            mayAccept: false,
            status: [tooLarge ? 413 : 400],
            expectBody: tooLarge ? undefined : (res) => expect(res.message).toBe('Input is nested too deeply'),
          }),
        );
      });
    });

    it('refuses a valid body sent with a wrong content type or content encoding (400 or 415)', async () => {
      const contentTypes = fc.constantFrom(
        { type: 'text/plain' },
        { type: 'text/json' },
        { type: 'application/x-www-form-urlencoded' },
        { type: 'multipart/form-data; boundary=xyz' },
        { type: 'application/xml' },
        { type: 'application/jsonx' },
        { type: 'application/vnd.api+json' },
        { type: 'application/json-patch+json' },
        { type: 'application/json; charset=latin1' },
        { type: 'application/json; charset=iso-8859-1' },
        { type: 'application/json; charset=bogus' },
        { type: 'application/json; charset=utf-bogus' },
        { type: 'application/json; charset=utf-16le' },
        { type: 'application/json; charset=utf-32' },
        { type: 'application/json', encoding: 'gzip' },
        { type: 'application/json', encoding: 'deflate' },
        { type: 'application/json', encoding: 'br' },
        { type: 'application/json', encoding: 'x-unknown' },
        { type: 'application/json', encoding: 'gzip, gzip' },
      );
      await check(fc.tuple(templateArb(), contentTypes), 40, ([tpl, ct]) => {
        const to = target(tpl);
        return rejectedWithoutTrace(
          request({
            ...to,
            headers: { ...to.headers, ...(ct.encoding ? { 'Content-Encoding': ct.encoding } : {}) },
            body: JSON.stringify(tpl.body(alice())),
            contentType: ct.type,
            status: [400, 415],
          }),
        );
      });
    });

    it('refuses oversized bodies (over BODY_LIMIT, up to 200kb) with 413 on every route, signed in or not, before authentication or validation', async () => {
      const big = fc
        .tuple(fc.integer({ min: BODY_LIMIT_BYTES + 1, max: 200 * 1024 }), fc.constantFrom('valid', 'array', 'garbage'))
        .map(([size, shape]) =>
          shape === 'valid'
            ? JSON.stringify({ email: 'big@example.test', password: 'p'.repeat(size) })
            : shape === 'array'
              ? `[${'1,'.repeat(Math.ceil(size / 2))}1]`
              : '{'.repeat(size),
        );
      await check(fc.tuple(fc.constantFrom(...everyRoute()), big), 30, ([to, text]) =>
        rejectedWithoutTrace(
          request({
            ...to,
            body: text,
            mayAccept: false,
            status: [413],
            expectBody: (res) => expect(res).toEqual({ statusCode: 413, message: 'Request body too large', error: 'Payload Too Large' }),
          }),
        ),
      );
    });

    it("answers invalid ids in /sessions/:id (SQL-ish, traversal, percent garbage, near-UUIDs, another user's id) with 400 or 404 on GET, PATCH and DELETE", async () => {
      const ids = idGarbage([bTokens.sessionId], aSecond.sessionId);
      await check(fc.tuple(fc.constantFrom(...routes.filter(hasId)), ids), 80, ([route, id]) =>
        rejectedWithoutTrace(
          request({
            ...target(route, { sessionId: id.segment }),
            body: route.body && JSON.stringify(route.body(alice())),
            mayAccept: false,
            // Admin routes check the caller first (Alice is no admin): 403 for any id that reaches the
            // route (a path Express cannot decode is refused before routing, with 400).
            status: isAdmin(route) ? [400, 403] : [400, 404],
          }),
        ),
      );
    });

    it('answers hostile query strings on GET and DELETE /sessions (and other routes) with 400 for DELETE, never a 5xx', async () => {
      const key = fc.oneof(
        fc.constantFrom('includeCurrent', 'includeCurrent[]', 'includeCurrent[a]', 'includecurrent', 'include_current', 'userId', 'id', 'limit', '__proto__[x]'),
        fc.string({ minLength: 1, maxLength: 20 }),
        unicodeEdgeString,
      ).filter((k) => !IGNORED_KEYS.has(k)); // see the test of ignored keys below
      const value = fc.oneof(
        fc.constantFrom('true', 'false', 'TRUE', 'True', '1', '0', 'yes', '', ' true', 'true ', 'null', 'undefined', '[]', '{}'),
        fc.constantFrom(...SQLISH),
        fc.string({ maxLength: 30 }),
        unicodeEdgeString,
        fc.integer({ min: 1000, max: 4000 }).map((n) => 't'.repeat(n)),
      );
      const pair = fc.oneof(
        { weight: 5, arbitrary: fc.tuple(key, value).map(([k, v]) => `${encodePart(k)}=${encodePart(v)}`) },
        { weight: 1, arbitrary: fc.constantFrom('includeCurrent=%', 'includeCurrent=%zz', 'includeCurrent=%00', '%=true', 'includeCurrent', 'includeCurrent==true', 'a[b][c]=1', '%ED%A0%80=1') },
      );
      const query = fc
        .array(pair, { minLength: 1, maxLength: 4 })
        .map((pairs) => pairs.join('&'))
        // `includeCurrent=true|false` alone is a valid request: not hostile.
        .filter((q) => !/^includeCurrent=(true|false)$/.test(q));
      // Signed in on every route that reads a query (twice the weight) and on every read.
      const queried = routes.filter((r) => r.query !== undefined);
      const targets = [...queried, ...queried, ...routes.filter((r) => r.method === 'get')].map((r) => target(r, { anonymous: false }));
      await check(fc.tuple(fc.constantFrom(...targets), query), 80, ([to, q]) =>
        rejectedWithoutTrace(
          request({ ...to, path: `${to.path}?${q}`, status: to.path.startsWith('/admin/') ? [403] : to.method === 'delete' ? [400] : undefined }),
        ),
      );
    });

    it('answers garbage Authorization headers (random, "Bearer " + random, JWT-looking, altered real tokens, very long) with 401 on every authenticated route', async () => {
      const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
      const realToken = () => aTokens.accessToken;
      const garbage = fc.oneof(
        headerString(200),
        headerString(200).map((s) => `Bearer ${s}`),
        headerString(40).map((s) => `bearer ${s}`),
        fc.constantFrom('Bearer', 'Bearer ', 'Bearer  ', 'Basic dXNlcjpwYXNz', 'Bearer null', 'Bearer undefined', 'Bearer ..', 'Bearer a.b.c', 'Token abc', 'Bearer eyJ', 'Bearer Bearer x'),
        fc
          .tuple(fc.jsonValue({ maxDepth: 2 }), fc.jsonValue({ maxDepth: 2 }), fc.base64String({ maxLength: 60 }))
          .map(([h, p, s]) => `Bearer ${b64(h)}.${b64(p)}.${s.replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_')}`),
        fc
          .tuple(fc.constantFrom('HS256', 'HS512', 'none', 'RS256', 'ES256', ''), fc.base64String({ maxLength: 60 }))
          .map(([alg, s]) => `Bearer ${b64({ alg, typ: 'JWT' })}.${b64({ sub: a.id, sid: aTokens.sessionId, typ: 'access', iss: t.settings.accessToken.issuer, aud: t.settings.accessToken.audience, exp: 4102444800 })}.${s.replace(/[=+/]/g, '')}`),
        // the real token, altered: one character replaced, cut short, or a segment dropped or repeated
        fc.tuple(fc.nat(), fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_')).map(([n, c]) => {
          const tok = realToken();
          const i = n % (tok.length - 1); // not the last character, whose low bits may be unused
          return `Bearer ${tok.slice(0, i)}${tok[i] === c ? (c === 'A' ? 'B' : 'A') : c}${tok.slice(i + 1)}`;
        }),
        fc.nat().map((n) => `Bearer ${realToken().slice(0, n % realToken().length)}`),
        fc.constantFrom(0, 1, 2).map((drop) => `Bearer ${realToken().split('.').filter((_, i) => i !== drop).join('.')}`),
        fc.constant(0).map(() => `Bearer ${realToken()}.${realToken().split('.')[2]}`),
        fc.constant(0).map(() => `Bearer ${aTokens.refreshToken}`),
        fc.integer({ min: 1000, max: 12_000 }).map((n) => `Bearer ${'A'.repeat(n)}`),
        fc.integer({ min: 1000, max: 12_000 }).map((n) => `Bearer ${realToken()}${'A'.repeat(n)}`),
      );
      // Every signed-in route, on Alice's current session, with its valid body and query.
      const guarded = routes
        .filter((r) => !r.isPublic)
        .flatMap((r) => {
          const to = { ...target(r, { sessionId: aTokens.sessionId }), body: r.body && JSON.stringify(r.body(alice())) };
          return r.query ? [to, { ...to, path: `${to.path}?${r.query}` }] : [to];
        });
      await check(fc.tuple(fc.constantFrom(...guarded), garbage), 80, ([to, authorization]) =>
        rejectedWithoutTrace(
          request({
            ...to,
            headers: { Authorization: authorization },
            mayAccept: false,
            status: [401],
            expectBody: (res) => expect(res).toEqual({ statusCode: 401, message: 'Unauthorized', error: 'Unauthorized' }),
          }),
        ),
      );
    });

    it('answers Unicode edge cases (lone surrogates, bidi marks, zero-width, emoji, combining) in credentials, tokens and keys with a clean 4xx', async () => {
      const hostile = fc.oneof(
        unicodeEdgeString.map((u) => ({ path: '/auth/login', body: { email: u, password: a.password } })),
        // (a prefix that trims away would be Alice's own email: a valid sign-in)
        unicodeEdgeString.filter((u) => u.trim() !== '').map((u) => ({ path: '/auth/login', body: { email: `${u}${a.email}`, password: a.password } })),
        unicodeEdgeString.map((u) => ({ path: '/auth/login', body: { email: a.email, password: u } })),
        unicodeEdgeString.map((u) => ({ path: '/auth/login', body: { email: a.email, password: `${a.password}${u}` } })),
        unicodeEdgeString.map((u) => ({ path: '/auth/register', body: { email: u, password: 'valid-password-1' } })),
        unicodeEdgeString.map((u) => ({ path: '/auth/register', body: { email: freshEmail(), password: 'valid-password-1', displayName: u, [u]: 1 } })),
        unicodeEdgeString.map((u) => ({ path: '/auth/refresh', body: { refreshToken: u } })),
        unicodeEdgeString.map((u) => ({ path: '/auth/refresh', body: { refreshToken: `${aTokens.refreshToken}${u}` } })),
        unicodeEdgeString.map((u) => ({ path: '/auth/password', auth: true, body: { currentPassword: u, newPassword: 'another-valid-password' } })),
      );
      await check(hostile, 60, ({ path, body, auth }: { path: string; body: Record<string, unknown>; auth?: boolean }) =>
        rejectedWithoutTrace(
          request({
            method: 'post',
            path,
            headers: auth ? { Authorization: `Bearer ${aTokens.accessToken}` } : {},
            // JSON.stringify writes lone surrogates as \ud800-style escapes
            body: JSON.stringify(body),
            ...(illFormed(body) ? { status: [400], expectBody: (res) => expect(res.message).toBe(ILL_FORMED) } : { status: [400, 401] }),
          }),
        ),
      );
    });

    it("answers well-formed but forged refresh tokens (Alice's with the MAC or payload altered, ids swapped, random MACs) with 401, and her session is not rotated or revoked", async () => {
      const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
      const uuidHex = (id: string) => Buffer.from(id.replace(/-/g, ''), 'hex');
      const forged = fc.oneof(
        // one character of the MAC replaced (not the last one, whose low bits are not canonical)
        fc.tuple(fc.nat(41), fc.constantFrom(...ALPHABET)).map(([i, c]) => {
          const [payload, mac] = aTokens.refreshToken.split('.');
          return `${payload}.${mac.slice(0, i)}${mac[i] === c ? (c === 'A' ? 'B' : 'A') : c}${mac.slice(i + 1)}`;
        }),
        // another generation, or another user's id, or another session's id, under Alice's MAC
        fc
          .tuple(fc.constantFrom('generation', 'user', 'session', 'both'), fc.nat({ max: 0xffffffff }))
          .map(([what, generation]) => {
            const [payload, mac] = aTokens.refreshToken.split('.');
            const bytes = Buffer.from(payload, 'base64url');
            if (what === 'generation') bytes.writeUInt32BE(generation === bytes.readUInt32BE(32) ? generation + 1 : generation, 32);
            if (what === 'user' || what === 'both') uuidHex(b.id).copy(bytes, 0);
            if (what === 'session' || what === 'both') uuidHex(aSecond.sessionId).copy(bytes, 16);
            return `${bytes.toString('base64url')}.${mac}`;
          }),
        // Alice's payload with a random (canonical) MAC
        fc.uint8Array({ minLength: 32, maxLength: 32 }).map((mac) => `${aTokens.refreshToken.split('.')[0]}.${Buffer.from(mac).toString('base64url')}`),
      );
      await check(forged, 40, (refreshToken) =>
        rejectedWithoutTrace(
          request({
            method: 'post',
            path: '/auth/refresh',
            body: JSON.stringify({ refreshToken }),
            status: [401],
            expectBody: (res) => expect(res).toEqual({ statusCode: 401, message: 'Invalid or expired refresh token', error: 'Unauthorized' }),
          }),
        ),
      );
    });

    it('refuses a body whose SQL-ish values reach the database as data only: no login, no error, no change', async () => {
      const sqlEmail = fc.oneof(
        fc.constantFrom(...SQLISH),
        fc.constantFrom(...SQLISH).map((s) => `${a.email}${s}`),
        fc.constantFrom(...SQLISH).map((s) => `${s}${a.email}`),
        fc.string({ unit: fc.constantFrom("'", '"', '\\', ';', '-', '$', '?', '%', '_', '*', ' ', 'a', '(', ')', '\n'), maxLength: 40 }),
      );
      await check(sqlEmail, 30, (email) =>
        rejectedWithoutTrace(
          request({ method: 'post', path: '/auth/login', body: JSON.stringify({ email, password: a.password }), status: [400, 401] }),
        ),
      );
    });
  });

  describe('hostile-looking input that may be accepted is stored faithfully, never a 5xx', () => {
    it('registers and signs in with Unicode edge cases in displayName and password, storing exactly what was sent (lone surrogates: 400)', async () => {
      const displayName = unicodeEdgeString.filter((s) => s.length <= 100 && !CONTROL.test(s));
      const password = fc
        .tuple(unicodeEdgeString, fc.constantFrom('', 'padding!', 'long enough padding'))
        .map(([u, pad]) => `${u}${pad}`)
        .filter((p) => Buffer.byteLength(p) >= 8 && Buffer.byteLength(p) <= 72 && !p.includes('\u0000'));
      await check(fc.tuple(displayName, password), 30, async ([name, pw]) => {
        const email = freshEmail();
        const body = JSON.stringify({ email, password: pw, displayName: name });
        if (illFormed({ name, pw })) {
          return rejectedWithoutTrace(
            request({ method: 'post', path: '/auth/register', body, status: [400], expectBody: (res) => expect(res.message).toBe(ILL_FORMED) }),
          );
        }
        const r = request({ method: 'post', path: '/auth/register', body, mayAccept: true, status: [201] });
        const res = await send(t, r);
        expectWellBehaved(res, r);
        const stored = await owner.query<{ display_name: string | null }>('select display_name from users where id = $1', [res.body.id]);
        expect(stored.rows[0].display_name).toBe(name.trim() || null);
        expect(res.body.displayName).toBe(stored.rows[0].display_name);
        const signIn = request({ method: 'post', path: '/auth/login', body: JSON.stringify({ email, password: pw }), mayAccept: true, status: [200] });
        expectWellBehaved(await send(t, signIn), signIn);
      });
    });

    it('renames a session and signs in with Unicode edge cases in deviceName, storing exactly what was sent (lone surrogates: 400)', async () => {
      const deviceName = unicodeEdgeString.filter((s) => s.length <= 100 && !CONTROL.test(s));
      await check(fc.tuple(deviceName, fc.boolean()), 30, async ([name, viaLogin]) => {
        const r = viaLogin
          ? request({ method: 'post', path: '/auth/login', body: JSON.stringify({ email: b.email, password: b.password, deviceName: name }), mayAccept: true })
          : request({
              method: 'patch',
              path: `/sessions/${bTokens.sessionId}`,
              headers: { Authorization: `Bearer ${bTokens.accessToken}` },
              body: JSON.stringify({ deviceName: name }),
              mayAccept: true,
            });
        if (illFormed({ name })) {
          return rejectedWithoutTrace({ ...r, mayAccept: false, status: [400], expectBody: (res) => expect(res.message).toBe(ILL_FORMED) });
        }
        const res = await send(t, r);
        expectWellBehaved(res, r);
        expect(res.status).toBe(200);
        const sessionId: string = viaLogin ? res.body.sessionId : res.body.id;
        const stored = await owner.query<{ device_name: string | null }>('select device_name from sessions where id = $1', [sessionId]);
        expect(stored.rows[0].device_name).toBe(name.trim() || null);
        if (!viaLogin) expect(res.body.deviceName).toBe(stored.rows[0].device_name);
      });
    });

    it('refuses a password with a lone surrogate instead of hashing it as U+FFFD (which would let another lone surrogate sign in)', async () => {
      const email = freshEmail();
      await t.http.post('/auth/register').send({ email, password: '\ufffdpassword' }).expect(201);
      for (const password of ['\ud800password', '\udbffpassword', '\udfffpassword']) {
        const res = await t.http.post('/auth/login').send({ email, password });
        expect(res.status).toBe(400);
        expect(res.body).toEqual({ statusCode: 400, message: ILL_FORMED, error: 'Bad Request' });
      }
      await t.http.post('/auth/login').send({ email, password: '\ufffdpassword' }).expect(200);
      const other = await t.http.post('/auth/register').send({ email: freshEmail(), password: '\ud800password' });
      expect(other.status).toBe(400);
    });

    it('drops the keys the validation pipeline ignores (__proto__, prototype, constructor, Object.prototype methods) without polluting anything or storing them', async () => {
      for (const key of IGNORED_KEYS) {
        const email = freshEmail();
        const r = request({
          method: 'post',
          path: '/auth/register',
          body: `{"email": "${email}", "password": "valid-password-1", ${JSON.stringify(key)}: {"isActive": false, "displayName": "polluted", "isAdmin": true, "prototype": {"isAdmin": true}}}`,
          mayAccept: true,
          status: [201],
        });
        const res = await send(t, r);
        expectWellBehaved(res, r);
        expect(res.body.displayName).toBeNull();
        expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
        expect(({} as Record<string, unknown>).isActive).toBeUndefined();
        expect(({} as Record<string, unknown>).displayName).toBeUndefined();
        const row = (await owner.query('select email, display_name, is_active from users where id = $1', [res.body.id])).rows[0];
        expect(row).toEqual({ email, display_name: null, is_active: true });
      }
    });

    it('answers an Authorization header beyond Node\'s 16KB header limit with 431, not a 5xx', async () => {
      const res = await t.http.get('/auth/me').set('Authorization', `Bearer ${'A'.repeat(20_000)}`);
      expect(res.status).toBe(431);
    });
  });

  describe('garbage X-Forwarded-For headers with TRUST_PROXY=false (the default)', () => {
    forwardedForProperties(() => ({ t, owner }), false);
  });
});


/** The X-Forwarded-For properties, for the app `app()` returns (TRUST_PROXY = `trusted`). */
function forwardedForProperties(app: () => { t: TestApp; owner: Client }, trusted: boolean): void {
  let user: TestUser;
  let tokens: Tokens;
  beforeAll(async () => {
    expect(app().t.config.http.trustProxy).toBe(trusted);
    user = await newUser(app().t.http);
    tokens = await login(app().t.http, user);
  });

  it('answers refused requests (bad credentials, bad bodies, forged tokens) carrying garbage X-Forwarded-For with a clean 4xx and no database change', async () => {
    type Refused = { method: Method; path: string; body?: string; headers?: Record<string, string>; status: number[] };
    const refused = fc.constantFrom<() => Refused>(
      () => ({ method: 'post', path: '/auth/login', body: JSON.stringify({ email: user.email, password: 'wrong-password' }), status: [401] }),
      () => ({ method: 'post', path: '/auth/register', body: JSON.stringify({ email: 'not-an-email', password: 'valid-password-1' }), status: [400] }),
      () => ({ method: 'post', path: '/auth/refresh', body: JSON.stringify({ refreshToken: 'x.y' }), status: [401] }),
      () => ({ method: 'delete', path: '/sessions', headers: { Authorization: 'Bearer forged' }, status: [401] }),
      () => ({ method: 'delete', path: '/sessions?includeCurrent=maybe', headers: { Authorization: `Bearer ${tokens.accessToken}` }, status: [400] }),
    );
    await check(fc.tuple(refused, forwardedFor), 30, async ([make, xff]) => {
      const base = make();
      const r = request({ ...base, headers: { ...base.headers, 'X-Forwarded-For': xff } });
      const before = await snapshot(app().owner);
      const res = await send(app().t, r);
      expectWellBehaved(res, r);
      expect(await snapshot(app().owner)).toEqual(before);
    });
  });

  it('signs in with a garbage X-Forwarded-For and records null or a valid IP (the socket address unless TRUST_PROXY)', async () => {
    await check(forwardedFor, 20, async (xff) => {
      const r = request({
        method: 'post',
        path: '/auth/login',
        headers: { 'X-Forwarded-For': xff },
        body: JSON.stringify({ email: user.email, password: user.password }),
        mayAccept: true,
        status: [200],
      });
      const res = await send(app().t, r);
      expectWellBehaved(res, r);
      const stored = (await app().owner.query<{ ip: string | null }>('select host(ip_address) as ip from sessions where id = $1', [res.body.sessionId])).rows[0].ip;
      if (stored !== null) expect(isIP(stored)).not.toBe(0);
      if (!trusted) expect(stored).toBe('127.0.0.1');
      const listed = await app().t.http.get(`/sessions/${res.body.sessionId}`).set(...bearer(res.body)).expect(200);
      expect(listed.body.ipAddress).toBe(stored);
    }, FORWARDED_FOR_EXAMPLES);
  });
}

describe('garbage X-Forwarded-For headers with TRUST_PROXY=true', () => {
  let t: TestApp;
  let owner: Client;
  beforeAll(async () => {
    t = await createTestApp({ env: { ...NO_RATE_LIMITS, TRUST_PROXY: 'true' } });
    owner = new Client({ connectionString: t.db.ownerUrl });
    await owner.connect();
  });
  afterAll(async () => {
    await owner?.end();
    await t?.close();
  });

  forwardedForProperties(() => ({ t, owner }), true);
});
