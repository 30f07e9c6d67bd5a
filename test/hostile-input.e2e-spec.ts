import fc from 'fast-check';
import { isIP } from 'node:net';
import { Client } from 'pg';
import type { Response } from 'supertest';
import { CONTROL_CHARACTER as CONTROL, MAX_INPUT_DEPTH as MAX_JSON_DEPTH } from '../src/core/validation';
import { bearer, login, newUser, TestUser, Tokens } from './support/factories';
import { createTestApp, TestApp } from './support/test-app';

/**
 * Property-based hostile input over every route of the REST contract. Each property holds for every
 * request: never a 5xx; nothing internal in the body (stack frames, SQL or driver text, file paths);
 * errors in the standard `{statusCode, message, error}` shape; and a request that is refused leaves
 * the `users` and `sessions` tables exactly as they were (compared row by row, all columns, as the
 * owner, around every single request).
 *
 * The runs are reproducible: the seed is fixed, and fast-check prints it (with the path) for any
 * counterexample. FC_SEED replays or varies it; FC_SCALE multiplies every property's run count
 * (e.g. FC_SCALE=10 for a longer exploration; the default keeps the file well under a minute).
 */
const SEED = process.env.FC_SEED !== undefined ? Number(process.env.FC_SEED) : 20261129;
const RUN_SCALE = process.env.FC_SCALE !== undefined ? Number(process.env.FC_SCALE) : 1;
const runs = (n: number): number => Math.max(1, Math.round(n * RUN_SCALE));
/** `examples` run first, every time, whatever the seed draws. */
const check = <T>(arb: fc.Arbitrary<T>, numRuns: number, predicate: (value: T) => Promise<void>, examples: T[] = []): Promise<void> =>
  fc.assert(fc.asyncProperty(arb, predicate), { seed: SEED, numRuns: runs(numRuns), examples: examples.map((e): [T] => [e]) });

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

/** Internals that must never reach a client. */
const LEAKS: Array<[string, RegExp]> = [
  ['a stack frame', / {4}at /],
  ['SQL', /select |insert |update |syntax error/i],
  ['a driver or ORM name', /QueryFailed|DriverException|knex|pg_/i],
  ['a file path', /\/work\/|node_modules/i],
];

type Method = 'get' | 'post' | 'patch' | 'delete';

interface HostileRequest {
  method: Method;
  /** Sent as is (already percent-encoded where needed), query string included. */
  path: string;
  headers: Record<string, string>;
  /** Raw body text; sent with `contentType` (default application/json). */
  body?: string;
  contentType?: string;
  /** Only read-only routes may answer 2xx to hostile input; everything else must be refused. */
  mayAccept: boolean;
  /** The exact status(es) this input must get, when the property pins them. */
  status?: number[];
  /** Further checks on the response. */
  expectBody?: (body: Record<string, unknown>) => void;
}

/** A compact description for fast-check's counterexample report (bodies can be 100k characters). */
function describeRequest(r: HostileRequest): string {
  const clip = (s: string, n = 160) => (s.length > n ? `${s.slice(0, n)}…(${s.length} chars)` : s);
  const headers = Object.entries(r.headers).map(([k, v]) => `${k}: ${clip(JSON.stringify(v), 120)}`);
  const body = r.body === undefined ? '' : ` [${r.contentType ?? 'application/json'}] ${clip(JSON.stringify(r.body))}`;
  return `${r.method.toUpperCase()} ${clip(r.path)} {${headers.join('; ')}}${body}`;
}

function request(r: Omit<HostileRequest, 'headers' | 'mayAccept'> & Partial<Pick<HostileRequest, 'headers' | 'mayAccept'>>): HostileRequest {
  const req: HostileRequest = { headers: {}, mayAccept: r.method === 'get', ...r };
  Object.defineProperty(req, fc.toStringMethod, { value: () => describeRequest(req), enumerable: false });
  return req;
}

function send(t: TestApp, r: HostileRequest): Promise<Response> {
  let q = t.http[r.method](r.path);
  for (const [name, value] of Object.entries(r.headers)) q = q.set(name, value);
  if (r.body !== undefined) q = q.set('Content-Type', r.contentType ?? 'application/json').send(r.body);
  return q;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/**
 * The response's text with the client's own input taken out where Nest legitimately quotes it (the
 * name of an unknown property, the path of an unknown route, an undecodable path parameter), so
 * that only what the server adds is searched for internals.
 */
function serverText(res: Response, r: HostileRequest): string {
  if (!res.headers['content-type']?.includes('application/json') || typeof res.body !== 'object' || res.body === null) return res.text ?? '';
  const sentKeys = new Set<string>();
  try {
    const parsed: unknown = r.body === undefined ? undefined : JSON.parse(r.body);
    if (parsed && typeof parsed === 'object') for (const k of Object.keys(parsed)) sentKeys.add(k);
  } catch {
    // not JSON: nothing of it can be quoted back
  }
  const query = r.path.includes('?') ? r.path.slice(r.path.indexOf('?') + 1) : '';
  for (const pair of query.split('&')) sentKeys.add(safeDecode(pair.split('=')[0]));
  const pathOnly = r.path.split('?')[0];
  const scrub = (m: unknown): unknown => {
    if (typeof m !== 'string') return m;
    const property = /^property ([\s\S]*) should not exist$/.exec(m);
    if (property && sentKeys.has(property[1])) return 'property ‹sent key› should not exist';
    if (m === `Cannot ${r.method.toUpperCase()} ${r.path}` || m === `Cannot ${r.method.toUpperCase()} ${pathOnly}`) return 'Cannot ‹sent path›';
    const param = /^Failed to decode param '([\s\S]*)'$/.exec(m);
    if (param && r.path.includes(param[1])) return 'Failed to decode param ‹sent›';
    return m;
  };
  const body = res.body as Record<string, unknown>;
  const message = Array.isArray(body.message) ? body.message.map(scrub) : scrub(body.message);
  return JSON.stringify({ ...body, ...opaqueCredentials(body), message });
}

/**
 * The tokens of a successful sign-in or refresh, made searchable. They are random bytes in
 * base64url, in which a short pattern such as `pg_` turns up by chance (about one sign-in in five
 * hundred: CI failed on a refresh token containing "Pg_c"). So each must have its exact shape,
 * which leaves no room for text; the access token's header and payload are searched decoded (they
 * are JSON the server wrote), and only the random bytes (signature, MAC, ids) are left out.
 */
function opaqueCredentials(body: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if ('accessToken' in body) {
    const parts = typeof body.accessToken === 'string' ? body.accessToken.split('.') : [];
    expect(parts).toHaveLength(3);
    parts.forEach((part) => expect(part).toMatch(/^[A-Za-z0-9_-]+$/));
    const decode = (part: string): unknown => JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    out.accessToken = { header: decode(parts[0]), payload: decode(parts[1]), signature: '‹random›' };
  }
  if ('refreshToken' in body) {
    // base64url(user id ‖ session id ‖ generation) "." base64url(HMAC-SHA256): 36 and 32 bytes.
    expect(body.refreshToken).toMatch(/^[A-Za-z0-9_-]{48}\.[A-Za-z0-9_-]{43}$/);
    out.refreshToken = '‹random›';
  }
  return out;
}

/** The properties every response must have, whatever was sent. */
function expectWellBehaved(res: Response, r: HostileRequest): void {
  expect(res.status).toBeGreaterThanOrEqual(200);
  expect(res.status).toBeLessThan(500);
  const text = serverText(res, r);
  for (const [what, pattern] of LEAKS) {
    if (pattern.test(text)) throw new Error(`response leaks ${what} (${pattern}): ${text.slice(0, 2000)}`);
  }
  if (res.status >= 400) {
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(Object.keys(res.body).sort()).toEqual(['error', 'message', 'statusCode']);
    expect(res.body.statusCode).toBe(res.status);
    expect(typeof res.body.error).toBe('string');
    const message: unknown = res.body.message;
    expect(typeof message === 'string' || (Array.isArray(message) && message.every((m) => typeof m === 'string'))).toBe(true);
  }
  if (!r.mayAccept) expect(res.status).toBeGreaterThanOrEqual(400);
  if (r.status) expect(r.status).toContain(res.status);
  r.expectBody?.(res.body);
}

/** A 400 whose validation messages name `field`. */
const namesField = (field: string) => (body: Record<string, unknown>) => {
  const messages = ([] as unknown[]).concat(body.message);
  expect(messages.some((m) => typeof m === 'string' && m.startsWith(`${field} `))).toBe(true);
};

/** Both tables, every column, every row, read as the owner. */
async function snapshot(owner: Client): Promise<{ users: unknown[]; sessions: unknown[] }> {
  const users = (await owner.query('select * from users order by id')).rows;
  const sessions = (await owner.query('select * from sessions order by id')).rows;
  return { users, sessions };
}

// ---------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------

/** Characters Node will put in a header value (visible ASCII, space, tab, and Latin-1). */
const headerChar = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) },
  { weight: 1, arbitrary: fc.integer({ min: 0x80, max: 0xff }).map((c) => String.fromCharCode(c)) },
  { weight: 1, arbitrary: fc.constant('\t') },
);
const headerString = (maxLength = 200) => fc.string({ unit: headerChar, maxLength });

/** Unicode that trips up naive code: lone surrogates, bidi controls, zero-width and joiners, emoji, combining marks. */
const UNICODE_EDGES = [
  '\ud800', '\udbff', '\udc00', '\udfff', '\ud83d', '\ude00\ud83d', // lone or reversed surrogates
  '\u200e', '\u200f', '\u202a', '\u202b', '\u202d', '\u202e', '\u2066', '\u2067', '\u2068', '\u2069', // bidi
  '\u200b', '\u200c', '\u200d', '\u2060', '\ufeff', '\u00ad', // zero-width, soft hyphen, BOM
  '\u00a0', '\u2028', '\u2029', '\u3000', '\u180e', // odd spaces and separators
  '😀', '👩‍👩‍👧‍👦', '🇺🇳', '🏳️‍🌈', '\u{1F9D1}\u{1F3FD}\u200D\u{1F4BB}', '\u{10FFFF}', '\uffff', '\ufffe', '\ufffd', // emoji, non-characters
  'e\u0301', 'a\u0300\u0301\u0302\u0303\u0304\u0305\u0306\u0307\u0308\u0309\u030a\u030b', '\u0915\u094d\u0937', // combining
  'İ', 'ß', 'ﬀ', 'Ω', '＠', '．', 'ǅ', // case mapping and look-alikes
];
// Never empty (an empty suffix leaves a valid password: seed 13 drew one, and the sign-in rightly succeeded).
const unicodeEdgeString = fc
  .array(fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...UNICODE_EDGES) }, { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 4 }) }), {
    minLength: 1,
    maxLength: 12,
  })
  .map((parts) => parts.join(''));

/** The 400 for a body with a lone surrogate in any string or key (src/app.factory.ts). */
const ILL_FORMED = 'Input is not well-formed Unicode';
/** Whether any string or key in `value` has a lone surrogate. */
const illFormed = (value: unknown): boolean =>
  typeof value === 'string'
    ? hasLoneSurrogate(value)
    : typeof value === 'object' && value !== null && Object.entries(value).some(([k, v]) => hasLoneSurrogate(k) || illFormed(v));
const hasLoneSurrogate = (s: string): boolean => /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s);

/** Percent-encodes every character outside [A-Za-z0-9-_.~]; lone surrogates become invalid UTF-8 escapes. */
function encodePart(s: string): string {
  let out = '';
  for (const ch of s) {
    const code = ch.codePointAt(0)!;
    if (code >= 0xd800 && code <= 0xdfff) {
      out += `%${(0xe0 | (code >> 12)).toString(16)}%${(0x80 | ((code >> 6) & 0x3f)).toString(16)}%${(0x80 | (code & 0x3f)).toString(16)}`.toUpperCase();
    } else if (/^[A-Za-z0-9\-_.~]$/.test(ch)) {
      out += ch;
    } else {
      out += encodeURIComponent(ch).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
    }
  }
  return out;
}

const SQLISH = [
  "' or '1'='1",
  "1' OR 1=1 --",
  "'; drop table sessions; --",
  "1; select pg_sleep(5)",
  "\\'; select * from users; --",
  "$$; delete from users; $$",
  "00000000-0000-0000-0000-000000000000' or true --",
  "%' or user_id is not null or '",
  "E'\\x00'",
  '" or ""="',
  '?',
  '??',
  '\\?',
];
const TRAVERSAL = ['..', '.', '../../etc/passwd', '..\\..\\windows', '/work/main/package.json', '....//....//', '%2e%2e%2f', 'node_modules/pg'];

/** Strings that are not UUIDs (or are UUIDs of nothing the caller owns), to put in a path, raw or encoded. */
function idGarbage(foreignIds: string[], ownId: string): fc.Arbitrary<{ segment: string; label: string }> {
  const encoded = (a: fc.Arbitrary<string>, label: string) => a.map((s) => ({ segment: encodePart(s), label }));
  const nearUuid = fc
    .tuple(fc.constantFrom(...foreignIds, ownId), fc.nat(35), fc.constantFrom('g', 'z', '-', "'", ' ', '\u0000', '%', '{', '\u00e9', ''))
    .map(([id, i, c]) => id.slice(0, i) + c + id.slice(i + 1))
    .filter((s) => !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s));
  return fc.oneof(
    encoded(fc.constantFrom(...SQLISH), 'SQL-ish'),
    encoded(fc.constantFrom(...TRAVERSAL), 'traversal (encoded)'),
    fc.constantFrom('..', '.', '..%2F..%2Fwork%2Fmain', '%2e%2e', '..%5C..%5C', '%2F', '%5C').map((segment) => ({ segment, label: 'traversal (raw)' })),
    fc.constantFrom('%', '%%', '%zz', '%E0%A4%A', '%C0%AF', '%ED%A0%80', '%FF%FE', '%00', '%2500', '%u0041', '%%32%65').map((segment) => ({ segment, label: 'percent garbage' })),
    encoded(nearUuid, 'near-UUID'),
    encoded(fc.constantFrom(`{${ownId}}`, `urn:uuid:${ownId}`, `${ownId}-${ownId}`, ownId.replace(/-/g, ''), ` ${ownId}`, `${ownId}\u0000`), 'decorated own id'),
    fc.constantFrom(...foreignIds).map((id) => ({ segment: id, label: "another user's session id" })),
    fc.constantFrom(...foreignIds).map((id) => ({ segment: id.toUpperCase(), label: "another user's session id, upper case" })),
    fc.uuid().map((segment) => ({ segment, label: 'unknown UUID' })),
    fc.constantFrom('00000000-0000-0000-0000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff').map((segment) => ({ segment, label: 'nil/max UUID' })),
    encoded(fc.string({ unit: 'binary', minLength: 1, maxLength: 60 }), 'random Unicode'),
    encoded(unicodeEdgeString, 'Unicode edge cases'),
    fc.integer({ min: 1000, max: 6000 }).map((n) => ({ segment: 'a'.repeat(n), label: 'very long' })),
  );
}

/** Random JSON values, directly or as whatever fc.anything() serialises to. */
const randomJsonText = fc.oneof(
  fc.jsonValue().map((v) => JSON.stringify(v)),
  fc.anything({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? 'null'),
  fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 6 }).map((v) => JSON.stringify(v)),
);

/** JSON values of any type but string. `nullable`: whether null counts (not for optional fields, where null means absent). */
const nonString = (nullable: boolean) =>
  fc.jsonValue({ maxDepth: 2 }).filter((v) => typeof v !== 'string' && (nullable || v !== null));

/** Text that is not a JSON object or array, although it claims to be JSON. */
function malformedJson(validBodies: string[]): fc.Arbitrary<string> {
  const isObjectOrArray = (s: string) => {
    try {
      const v: unknown = JSON.parse(s);
      return typeof v === 'object' && v !== null;
    } catch {
      return false;
    }
  };
  return fc
    .oneof(
      // a valid body cut short, or with one character replaced
      fc.tuple(fc.constantFrom(...validBodies), fc.nat()).map(([b, n]) => b.slice(0, n % b.length)),
      fc.tuple(fc.constantFrom(...validBodies), fc.nat(), fc.constantFrom('"', '{', '}', ',', ':', '\\', "'", ']', 'x', ' ')).map(
        ([b, n, c]) => b.slice(0, n % b.length) + c + b.slice((n % b.length) + 1),
      ),
      fc.constantFrom(
        '{"email": "a@b.test", "password": hunter2-secret}',
        "{'email': 'a@b.test'}",
        '{"email": "a@b.test",}',
        '{email: "a@b.test"}',
        '{"a": NaN}',
        '{"a": Infinity}',
        '{"a": 0x10}',
        '{"a": undefined}',
        '{"a": "\\u12"}',
        '{"a": "\\x41"}',
        '{"a": "tab\tinside"}',
        '// comment\n{}',
        '{}{}',
        '[1,]',
        'select * from users',
        '<?xml version="1.0"?><login/>',
      ),
      // JSON, but not an object or array (body-parser's strict mode refuses those)
      fc.jsonValue().filter((v) => typeof v !== 'object' || v === null).map((v) => JSON.stringify(v)),
      fc.string({ unit: 'binary', minLength: 1, maxLength: 200 }),
    )
    // (body-parser drops a leading BOM)
    .filter((s) => s.trim() !== '' && !isObjectOrArray(s.replace(/^\ufeff/, '')));
}

/** Deeply nested arrays or objects, alone or as a field's value. */
const deepJson = fc
  .tuple(fc.integer({ min: MAX_JSON_DEPTH + 1, max: 9000 }), fc.constantFrom('array', 'object', 'mixed'), fc.boolean())
  .map(([depth, kind, asField]) => {
    const open = kind === 'array' ? '[' : kind === 'object' ? '{"a":' : '[{"a":';
    const close = kind === 'array' ? ']' : kind === 'object' ? '}' : '}]';
    const levels = kind === 'mixed' ? Math.ceil(depth / 2) : depth;
    const nested = `${open.repeat(levels)}1${close.repeat(levels)}`;
    return asField ? `{"email":${nested},"password":"x"}` : nested;
  });

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
  // Templates: a valid request for every route with a body, so that one hostile change is the only
  // reason it can be refused (and accepting it would show in the database).
  // -------------------------------------------------------------------------------------------

  interface Field {
    name: string;
    required: boolean;
    /** What a NUL in this field gets: 400 naming the field, or 401 where the value is a credential looked up as is. */
    onNul: 400 | 401;
  }
  /** Whose account and sessions a template acts on. */
  interface Principal {
    user: TestUser;
    tokens: Tokens;
    second: Tokens;
  }
  interface Template {
    route: string;
    method: Method;
    path: (p?: Principal) => string;
    auth: boolean;
    body: (p?: Principal) => Record<string, unknown>;
    fields: Field[];
  }
  const alice = (): Principal => ({ user: a, tokens: aTokens, second: aSecond });
  const templates: Template[] = [
    {
      route: 'POST /auth/register',
      method: 'post',
      path: () => '/auth/register',
      auth: false,
      body: () => ({ email: freshEmail(), password: 'valid-password-1', displayName: 'New Person' }),
      fields: [
        { name: 'email', required: true, onNul: 400 },
        { name: 'password', required: true, onNul: 400 },
        { name: 'displayName', required: false, onNul: 400 },
      ],
    },
    {
      route: 'POST /auth/login',
      method: 'post',
      path: () => '/auth/login',
      auth: false,
      body: (p = alice()) => ({ email: p.user.email, password: p.user.password, deviceName: 'Hostile device', deviceType: 'web' }),
      fields: [
        // Refused by validation (no control characters), like every other text field.
        { name: 'email', required: true, onNul: 400 },
        { name: 'password', required: true, onNul: 400 },
        { name: 'deviceName', required: false, onNul: 400 },
        { name: 'deviceType', required: false, onNul: 400 },
      ],
    },
    {
      route: 'POST /auth/refresh',
      method: 'post',
      path: () => '/auth/refresh',
      auth: false,
      body: (p = alice()) => ({ refreshToken: p.tokens.refreshToken }),
      fields: [{ name: 'refreshToken', required: true, onNul: 401 }],
    },
    {
      route: 'POST /auth/password',
      method: 'post',
      path: () => '/auth/password',
      auth: true,
      body: (p = alice()) => ({ currentPassword: p.user.password, newPassword: 'another-valid-password' }),
      fields: [
        { name: 'currentPassword', required: true, onNul: 400 },
        { name: 'newPassword', required: true, onNul: 400 },
      ],
    },
    {
      route: 'PATCH /sessions/:id',
      method: 'patch',
      path: (p = alice()) => `/sessions/${p.second.sessionId}`,
      auth: true,
      body: () => ({ deviceName: 'Renamed by a hostile request' }),
      fields: [{ name: 'deviceName', required: true, onNul: 400 }],
    },
  ];
  // Counterexamples name the route instead of printing the template's functions.
  for (const tpl of templates) Object.defineProperty(tpl, fc.toStringMethod, { value: () => tpl.route, enumerable: false });
  const authHeaders = (tpl: { auth: boolean }, p = alice()): Record<string, string> => (tpl.auth ? { Authorization: `Bearer ${p.tokens.accessToken}` } : {});
  const templateArb = fc.constantFrom(...templates);
  const templateField = templateArb.chain((tpl) => fc.constantFrom(...tpl.fields).map((field) => ({ tpl, field })));

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
    // The password change revokes the other sessions, so it goes last.
    for (const tpl of [...templates].sort((x, y) => Number(x.route === 'POST /auth/password') - Number(y.route === 'POST /auth/password'))) {
      expect(Object.keys(tpl.body(p)).sort()).toEqual(tpl.fields.map((f) => f.name).sort());
      const res = await send(t, request({ method: tpl.method, path: tpl.path(p), headers: authHeaders(tpl, p), body: JSON.stringify(tpl.body(p)), mayAccept: true }));
      expect(`${tpl.route} ${res.status}`).toBe(`${tpl.route} ${expected[tpl.route]}`);
    }
  });

  describe('requests that must be refused leave the database exactly as it was', () => {
    it('answers random JSON values (fc.jsonValue, fc.anything) on every route, authenticated or not, with a clean 4xx (2xx only for reads)', async () => {
      const routes: Array<{ method: Method; path: () => string; auth: 'a' | 'none' }> = [
        { method: 'post', path: () => '/auth/register', auth: 'none' },
        { method: 'post', path: () => '/auth/login', auth: 'none' },
        { method: 'post', path: () => '/auth/refresh', auth: 'none' },
        { method: 'post', path: () => '/auth/logout', auth: 'none' }, // with a bearer the body is ignored and it succeeds
        { method: 'post', path: () => '/auth/password', auth: 'a' },
        { method: 'post', path: () => '/auth/password', auth: 'none' },
        { method: 'get', path: () => '/auth/me', auth: 'a' },
        { method: 'get', path: () => '/sessions', auth: 'a' },
        { method: 'delete', path: () => '/sessions', auth: 'none' }, // with a bearer and no query it succeeds
        { method: 'get', path: () => `/sessions/${aSecond.sessionId}`, auth: 'a' },
        { method: 'patch', path: () => `/sessions/${aSecond.sessionId}`, auth: 'a' },
        { method: 'patch', path: () => `/sessions/${bTokens.sessionId}`, auth: 'a' },
        { method: 'delete', path: () => `/sessions/${bTokens.sessionId}`, auth: 'a' },
        { method: 'delete', path: () => `/sessions/${aSecond.sessionId}`, auth: 'none' },
        { method: 'get', path: () => '/health', auth: 'none' },
      ];
      await check(fc.tuple(fc.constantFrom(...routes), randomJsonText), 80, ([route, body]) =>
        rejectedWithoutTrace(
          request({
            method: route.method,
            path: route.path(),
            headers: route.auth === 'a' ? { Authorization: `Bearer ${aTokens.accessToken}` } : {},
            body,
          }),
        ),
      );
    });

    it('answers a wrong type for any field, a missing required field or an extra field with a 400 that names it', async () => {
      const change = templateArb.chain((tpl) =>
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
        const body: Record<string, unknown> = tpl.body();
        if (kind === 'missing') delete body[field];
        else body[field] = value;
        return rejectedWithoutTrace(
          request({
            method: tpl.method,
            path: tpl.path(),
            headers: authHeaders(tpl),
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
      await check(fc.tuple(templateField, fc.nat(), fc.integer({ min: 1, max: 3 })), 50, ([{ tpl, field }, at, count]) => {
        const body = tpl.body();
        const value = String(body[field.name]);
        const i = at % (value.length + 1);
        body[field.name] = value.slice(0, i) + '\u0000'.repeat(count) + value.slice(i);
        return rejectedWithoutTrace(
          request({
            method: tpl.method,
            path: tpl.path(),
            headers: authHeaders(tpl),
            body: JSON.stringify(body),
            status: [field.onNul],
            expectBody: field.onNul === 400 ? namesField(field.name) : undefined,
          }),
        );
      });
    });

    it('answers huge strings (10k to 100k characters) in any field with 400 within BODY_LIMIT and 413 beyond it', async () => {
      const filler = fc.constantFrom('x', '😀', 'é', '\u200b', 'e\u0301', '\\', '"', "' or 1=1 --");
      await check(fc.tuple(templateField, fc.integer({ min: 10_000, max: 100_000 }), filler), 40, ([{ tpl, field }, length, unit]) => {
        const body = tpl.body();
        body[field.name] = unit.repeat(Math.ceil(length / unit.length)).slice(0, length);
        const text = JSON.stringify(body);
        const tooLarge = Buffer.byteLength(text) > BODY_LIMIT_BYTES;
        return rejectedWithoutTrace(
          request({
            method: tpl.method,
            path: tpl.path(),
            headers: authHeaders(tpl),
            body: text,
            status: [tooLarge ? 413 : 400],
            expectBody: tooLarge
              ? (res) => expect(res).toEqual({ statusCode: 413, message: 'Request body too large', error: 'Payload Too Large' })
              : namesField(field.name),
          }),
        );
      });
    });

    it('answers malformed JSON sent as application/json with 400 "Malformed JSON body" on every route that reads a body, signed in or not', async () => {
      const valid = templates.map((tpl) => JSON.stringify(tpl.body()));
      const routes: Array<{ method: Method; path: () => string; auth: boolean }> = [
        ...templates.map((tpl) => ({ method: tpl.method, path: tpl.path, auth: tpl.auth })),
        { method: 'post', path: () => '/auth/logout', auth: true },
        { method: 'delete', path: () => '/sessions', auth: true },
        { method: 'delete', path: () => `/sessions/${aSecond.sessionId}`, auth: true },
        { method: 'get', path: () => '/auth/me', auth: true },
        { method: 'get', path: () => '/health', auth: false },
      ];
      await check(fc.tuple(fc.constantFrom(...routes), malformedJson(valid)), 60, ([route, text]) =>
        rejectedWithoutTrace(
          request({
            method: route.method,
            path: route.path(),
            headers: authHeaders(route),
            body: text,
            mayAccept: false,
            status: [400],
            expectBody: (res) => expect(res).toEqual({ statusCode: 400, message: 'Malformed JSON body', error: 'Bad Request' }),
          }),
        ),
      );
    });

    it('refuses JSON nested deeper than the limit (up to 9000 levels) with a 400, or 413 beyond BODY_LIMIT, on every route that reads a body', async () => {
      const routes: Array<{ method: Method; path: () => string; auth: boolean }> = [
        ...templates.map((tpl) => ({ method: tpl.method, path: tpl.path, auth: tpl.auth })),
        { method: 'post', path: () => '/auth/logout', auth: true },
        { method: 'delete', path: () => '/sessions', auth: true },
        { method: 'get', path: () => '/auth/me', auth: true },
      ];
      await check(fc.tuple(fc.constantFrom(...routes), deepJson), 40, ([route, text]) => {
        const tooLarge = Buffer.byteLength(text) > BODY_LIMIT_BYTES;
        return rejectedWithoutTrace(
          request({
            method: route.method,
            path: route.path(),
            headers: authHeaders(route),
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
      await check(fc.tuple(templateArb, contentTypes), 40, ([tpl, ct]) =>
        rejectedWithoutTrace(
          request({
            method: tpl.method,
            path: tpl.path(),
            headers: { ...authHeaders(tpl), ...(ct.encoding ? { 'Content-Encoding': ct.encoding } : {}) },
            body: JSON.stringify(tpl.body()),
            contentType: ct.type,
            status: [400, 415],
          }),
        ),
      );
    });

    it('refuses oversized bodies (over BODY_LIMIT, up to 200kb) with 413 on every route, before authentication or validation', async () => {
      const routes: Array<{ method: Method; path: () => string; auth: boolean }> = [
        ...templates.map((tpl) => ({ method: tpl.method, path: tpl.path, auth: tpl.auth })),
        { method: 'post', path: () => '/auth/logout', auth: true },
        { method: 'post', path: () => '/auth/logout', auth: false },
        { method: 'delete', path: () => '/sessions', auth: true },
        { method: 'delete', path: () => `/sessions/${aSecond.sessionId}`, auth: true },
        { method: 'get', path: () => '/auth/me', auth: true },
        { method: 'get', path: () => '/health', auth: false },
      ];
      const big = fc
        .tuple(fc.integer({ min: BODY_LIMIT_BYTES + 1, max: 200 * 1024 }), fc.constantFrom('valid', 'array', 'garbage'))
        .map(([size, shape]) =>
          shape === 'valid'
            ? JSON.stringify({ email: 'big@example.test', password: 'p'.repeat(size) })
            : shape === 'array'
              ? `[${'1,'.repeat(Math.ceil(size / 2))}1]`
              : '{'.repeat(size),
        );
      await check(fc.tuple(fc.constantFrom(...routes), big), 30, ([route, text]) =>
        rejectedWithoutTrace(
          request({
            method: route.method,
            path: route.path(),
            headers: authHeaders(route),
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
      await check(fc.tuple(fc.constantFrom<Method>('get', 'patch', 'delete'), ids), 80, ([method, id]) =>
        rejectedWithoutTrace(
          request({
            method,
            path: `/sessions/${id.segment}`,
            headers: { Authorization: `Bearer ${aTokens.accessToken}` },
            body: method === 'patch' ? JSON.stringify({ deviceName: 'renamed through a hostile path' }) : undefined,
            mayAccept: false,
            status: [400, 404],
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
      const routes: Array<{ method: Method; path: () => string }> = [
        { method: 'delete', path: () => '/sessions' },
        { method: 'delete', path: () => '/sessions' },
        { method: 'get', path: () => '/sessions' },
        { method: 'get', path: () => `/sessions/${aSecond.sessionId}` },
        { method: 'get', path: () => '/auth/me' },
        { method: 'get', path: () => '/health' },
      ];
      await check(fc.tuple(fc.constantFrom(...routes), query), 80, ([route, q]) =>
        rejectedWithoutTrace(
          request({
            method: route.method,
            path: `${route.path()}?${q}`,
            headers: { Authorization: `Bearer ${aTokens.accessToken}` },
            status: route.method === 'delete' ? [400] : undefined,
          }),
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
      const routes: Array<{ method: Method; path: () => string; body?: () => string }> = [
        { method: 'post', path: () => '/auth/logout' },
        { method: 'get', path: () => '/auth/me' },
        { method: 'post', path: () => '/auth/password', body: () => JSON.stringify({ currentPassword: a.password, newPassword: 'another-valid-password' }) },
        { method: 'get', path: () => '/sessions' },
        { method: 'delete', path: () => '/sessions' },
        { method: 'delete', path: () => '/sessions?includeCurrent=true' },
        { method: 'get', path: () => `/sessions/${aTokens.sessionId}` },
        { method: 'patch', path: () => `/sessions/${aTokens.sessionId}`, body: () => JSON.stringify({ deviceName: 'renamed with a forged token' }) },
        { method: 'delete', path: () => `/sessions/${aTokens.sessionId}` },
      ];
      await check(fc.tuple(fc.constantFrom(...routes), garbage), 80, ([route, authorization]) =>
        rejectedWithoutTrace(
          request({
            method: route.method,
            path: route.path(),
            headers: { Authorization: authorization },
            body: route.body?.(),
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

/**
 * Hand-picked X-Forwarded-For values, each tried on every run of the sign-in property (with the fixed
 * seed, 20 runs drew none of them, and 'fe80::1%eth0' — which failed the sign-in with a 400 — went
 * unnoticed until another seed drew it).
 */
const FORWARDED_FOR_EXAMPLES = [
  '',
  ',',
  ' , ,',
  'unknown',
  '999.999.999.999',
  '::ffff:zz',
  '[::1]:80',
  '203.0.113.9:4711',
  '127.0.0.1, 10.0.0.1, 192.168.0.1',
  "1.2.3.4'); drop table sessions; --",
  '<script>alert(1)</script>',
  '1.2.3.4\t5.6.7.8',
  '::ffff:127.0.0.1',
  'fe80::1%eth0',
  'fe80::1%1, 203.0.113.9',
  '::ffff:1.2.3.4%eth0',
  '0x7f.0.0.1',
  '2130706433',
];

/** Garbage in X-Forwarded-For must never hurt; it is only believed with TRUST_PROXY. */
const forwardedFor = fc.oneof(
  headerString(100),
  fc.array(fc.oneof(fc.ipV4(), fc.ipV6(), fc.ipV4Extended(), headerString(20)), { minLength: 1, maxLength: 6 }).map((parts) => parts.join(', ')),
  fc.constantFrom(...FORWARDED_FOR_EXAMPLES),
  fc.integer({ min: 1000, max: 8000 }).map((n) => '9'.repeat(n)),
  fc.integer({ min: 100, max: 1500 }).map((n) => '1.2.3.4, '.repeat(n)),
);


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
