import fc from 'fast-check';
import { Client } from 'pg';
import type { Response } from 'supertest';
import { TestApp } from './test-app';

/**
 * Sending hostile requests and checking what comes back, for the property-based suites
 * (test/hostile-input.e2e-spec.ts): every response well-behaved (never a 5xx, nothing internal in the
 * body, errors in the standard shape), and the database compared around each request.
 *
 * The runs are reproducible: the seed is fixed, and fast-check prints it (with the path) for any
 * counterexample. FC_SEED replays or varies it; FC_SCALE multiplies every property's run count.
 */
const SEED = process.env.FC_SEED !== undefined ? Number(process.env.FC_SEED) : 20261129;
const RUN_SCALE = process.env.FC_SCALE !== undefined ? Number(process.env.FC_SCALE) : 1;
const runs = (n: number): number => Math.max(1, Math.round(n * RUN_SCALE));
/** `examples` run first, every time, whatever the seed draws. */
export const check = <T>(arb: fc.Arbitrary<T>, numRuns: number, predicate: (value: T) => Promise<void>, examples: T[] = []): Promise<void> =>
  fc.assert(fc.asyncProperty(arb, predicate), { seed: SEED, numRuns: runs(numRuns), examples: examples.map((e): [T] => [e]) });

/** Internals that must never reach a client. */
export const LEAKS: Array<[string, RegExp]> = [
  ['a stack frame', / {4}at /],
  ['SQL', /select |insert |update |syntax error/i],
  ['a driver or ORM name', /QueryFailed|DriverException|knex|pg_/i],
  ['a file path', /\/work\/|node_modules/i],
];

export type Method = 'get' | 'post' | 'patch' | 'delete';

export interface HostileRequest {
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

export function request(r: Omit<HostileRequest, 'headers' | 'mayAccept'> & Partial<Pick<HostileRequest, 'headers' | 'mayAccept'>>): HostileRequest {
  const req: HostileRequest = { headers: {}, mayAccept: r.method === 'get', ...r };
  Object.defineProperty(req, fc.toStringMethod, { value: () => describeRequest(req), enumerable: false });
  return req;
}

export function send(t: TestApp, r: HostileRequest): Promise<Response> {
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
export function expectWellBehaved(res: Response, r: HostileRequest): void {
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
export const namesField = (field: string) => (body: Record<string, unknown>) => {
  const messages = ([] as unknown[]).concat(body.message);
  expect(messages.some((m) => typeof m === 'string' && m.startsWith(`${field} `))).toBe(true);
};

/** Both tables, every column, every row, read as the owner. */
export async function snapshot(owner: Client): Promise<{ users: unknown[]; sessions: unknown[] }> {
  const users = (await owner.query('select * from users order by id')).rows;
  const sessions = (await owner.query('select * from sessions order by id')).rows;
  return { users, sessions };
}
