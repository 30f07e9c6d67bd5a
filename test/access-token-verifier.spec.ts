import fc from 'fast-check';
import { createHmac, createSecretKey, generateKeyPairSync, KeyObject, randomUUID, sign as signWithKey } from 'node:crypto';
import { sign, verify } from 'jsonwebtoken';
import { AccessTokenKeys } from '../src/auth/access-token-keys';
import { bearerToken, verifyAccessToken } from '../src/auth/access-token-verifier';
import type { AccessTokenAlgorithm } from '../src/core/settings';

/**
 * `verifyAccessToken` is our own code (it replaced passport-jwt + jsonwebtoken); jsonwebtoken with
 * the pinned options is the independent reference it is compared with, token by token.
 */
class TestKeys extends AccessTokenKeys {
  readonly issuer = 'issuer.example';
  readonly audience = 'api.example';
  constructor(
    readonly algorithm: AccessTokenAlgorithm,
    private readonly keys: Record<string, KeyObject | string>,
  ) {
    super();
  }
  async verificationKey(kid: string | undefined): Promise<KeyObject | string | undefined> {
    return this.keys[kid ?? '(none)'];
  }
}

const SECRET = 'test-access-secret-0123456789abcdef0123456789';
const hsKeys = new TestKeys('HS256', { '(none)': createSecretKey(Buffer.from(SECRET)) });
const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const otherEc = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const esKeys = new TestKeys('ES256', { k1: ec.publicKey });

const now = () => Math.floor(Date.now() / 1000);
const b64 = (value: unknown): string => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
const claims = (extra: Record<string, unknown> = {}) => ({ sub: randomUUID(), sid: randomUUID(), typ: 'access', iat: now(), exp: now() + 600, ...extra });
const hs = (input: string, secret = SECRET) => createHmac('sha256', secret).update(input).digest('base64url');
/** A compact JWS with exactly these header and payload texts, HMAC-signed with `secret`. */
const hsToken = (header: unknown, payload: unknown, secret = SECRET): string => {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${hs(input, secret)}`;
};
const esToken = (header: unknown, payload: unknown, key = ec.privateKey, dsaEncoding: 'ieee-p1363' | 'der' = 'ieee-p1363'): string => {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${signWithKey('sha256', Buffer.from(input), { key, dsaEncoding }).toString('base64url')}`;
};
/** The same bytes, spelled with the last base64url character's unused low bits set. */
const respelled = (token: string): string => {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const last = alphabet.indexOf(token.at(-1)!);
  return token.slice(0, -1) + alphabet[last ^ 1];
};

/** jsonwebtoken's verdict with what the module pins, plus the rules it has no option for. */
function reference(token: string, algorithm: AccessTokenAlgorithm, key: KeyObject | string, clockTimestamp?: number): boolean {
  try {
    const [headerPart] = token.split('.');
    const header = JSON.parse(Buffer.from(headerPart, 'base64url').toString()) as Record<string, unknown>;
    const payload = verify(token, key, { algorithms: [algorithm], clockTimestamp }) as unknown;
    return (
      header.alg === algorithm &&
      header.crit === undefined &&
      header.kid === undefined &&
      typeof payload === 'object' &&
      payload !== null &&
      !Array.isArray(payload) &&
      typeof (payload as { exp?: unknown }).exp === 'number'
    );
  } catch {
    return false;
  }
}

describe('verifyAccessToken (our JWS verifier) against jsonwebtoken', () => {
  it('accepts a valid HS256 token and returns its claims', async () => {
    const c = claims({ aud: 'api.example', iss: 'issuer.example' });
    await expect(verifyAccessToken(sign(c, SECRET, { algorithm: 'HS256' }), hsKeys)).resolves.toEqual(c);
  });

  it('agrees with jsonwebtoken on generated HS256 tokens: headers, payloads, times and signatures varied', async () => {
    // Weighted towards tokens that are right but for one thing, so that each rule decides cases.
    const headers = fc.oneof(
      { arbitrary: fc.constantFrom({ alg: 'HS256', typ: 'JWT' }, { alg: 'HS256' }), weight: 6 },
      {
        arbitrary: fc.constantFrom({ alg: 'none' }, { alg: 'HS384' }, { alg: 'hs256' }, { alg: 'ES256' }, {}, { alg: ['HS256'] }, { alg: 'HS256', kid: 'k1' }, { alg: 'HS256', crit: ['b64'], b64: false }),
        weight: 2,
      },
      { arbitrary: fc.constantFrom('[]', 'null', '"HS256"', 'not json', '{"alg":"HS256"'), weight: 1 },
    );
    // Both verifiers are given the same "now" (T), so the boundaries (exp = T, nbf = T) are exact.
    const T = now();
    const offset = fc.oneof(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 3, max: 100_000 }));
    const future = offset.map((d) => T + d);
    const past = offset.map((d) => T - d);
    const invalid = fc.constantFrom('1', null, [1], {});
    const exp = fc.oneof({ arbitrary: future, weight: 4 }, { arbitrary: past, weight: 2 }, { arbitrary: fc.constant(undefined), weight: 1 }, { arbitrary: invalid, weight: 1 });
    const nbf = fc.oneof(fc.constant(undefined), past, future, invalid);
    const payloads = fc.oneof(
      { arbitrary: fc.record({ exp, nbf }).map(({ exp, nbf }) => claims({ exp, ...(nbf === undefined ? {} : { nbf }) })), weight: 6 },
      { arbitrary: fc.constantFrom('[]', '"text"', '42', 'not json', '{"exp":'), weight: 1 },
    );
    const signatures = fc.oneof(
      { arbitrary: fc.constant('right'), weight: 6 },
      { arbitrary: fc.constantFrom('other secret', 'empty', 'respelled', 'truncated', 'none'), weight: 3 },
    );
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(headers, payloads, signatures, async (header, payload, how) => {
        const input = `${b64(header)}.${b64(payload)}`;
        const signature = {
          right: hs(input),
          'other secret': hs(input, 'another-secret-0123456789abcdef0123456789abc'),
          empty: '',
          respelled: respelled(hs(input)),
          truncated: hs(input).slice(0, 40),
          none: undefined,
        }[how];
        const token = signature === undefined ? input : `${input}.${signature}`;
        const ours = (await verifyAccessToken(token, hsKeys, T)) !== undefined;
        expect({ token, ours }).toEqual({ token, ours: reference(token, 'HS256', SECRET, T) });
        if (ours) accepted++;
      }),
      { numRuns: 600 },
    );
    // Both verdicts were exercised (about one token in eight is valid).
    expect(accepted).toBeGreaterThan(20);
  });

  it('the time boundaries are jsonwebtoken\'s: refused from exp on, accepted from nbf on', async () => {
    const T = now();
    const at = (extra: Record<string, unknown>) => hsToken({ alg: 'HS256' }, claims(extra));
    for (const [token, ok] of [
      [at({ exp: T + 1 }), true],
      [at({ exp: T }), false],
      [at({ nbf: T }), true],
      [at({ nbf: T + 1 }), false],
    ] as const) {
      expect(reference(token, 'HS256', SECRET, T)).toBe(ok);
      expect((await verifyAccessToken(token, hsKeys, T)) !== undefined).toBe(ok);
    }
  });

  it('refuses what jsonwebtoken refuses on its own: another spelling of the same signature, and a third dot', async () => {
    const token = hsToken({ alg: 'HS256', typ: 'JWT' }, claims());
    await expect(verifyAccessToken(token, hsKeys)).resolves.toBeDefined();
    expect(() => verify(respelled(token), SECRET, { algorithms: ['HS256'] })).toThrow();
    await expect(verifyAccessToken(respelled(token), hsKeys)).resolves.toBeUndefined();
    await expect(verifyAccessToken(`${token}.`, hsKeys)).resolves.toBeUndefined();
    await expect(verifyAccessToken(`${token}.${token.split('.')[2]}`, hsKeys)).resolves.toBeUndefined();
  });

  it('refuses, beyond jsonwebtoken: a crit header, a kid the keys do not know, no exp, and a token longer than 4 KiB', async () => {
    const c = claims();
    for (const header of [{ alg: 'HS256', crit: ['exp'] }, { alg: 'HS256', kid: 'k1' }, { alg: 'HS256', kid: 7 }]) {
      await expect(verifyAccessToken(hsToken(header, c), hsKeys)).resolves.toBeUndefined();
    }
    const { exp, ...noExp } = c;
    void exp;
    expect(verify(hsToken({ alg: 'HS256' }, noExp), SECRET, { algorithms: ['HS256'] })).toBeTruthy();
    await expect(verifyAccessToken(hsToken({ alg: 'HS256' }, noExp), hsKeys)).resolves.toBeUndefined();
    const long = hsToken({ alg: 'HS256' }, claims({ pad: 'x'.repeat(3000) }));
    expect(long.length).toBeGreaterThan(4096);
    await expect(verifyAccessToken(long, hsKeys)).resolves.toBeUndefined();
    await expect(verifyAccessToken(hsToken({ alg: 'HS256' }, claims({ pad: 'x'.repeat(2000) })), hsKeys)).resolves.toBeDefined();
  });

  it('ES256: accepts r ‖ s signed with the key its kid names; refuses another key, an unknown kid, a DER signature, another spelling, and the HS256 confusion', async () => {
    const c = claims();
    const good = esToken({ alg: 'ES256', typ: 'JWT', kid: 'k1' }, c);
    expect(verify(good, ec.publicKey, { algorithms: ['ES256'] })).toEqual(c);
    await expect(verifyAccessToken(good, esKeys)).resolves.toEqual(c);
    await expect(verifyAccessToken(esToken({ alg: 'ES256', kid: 'k1' }, c, otherEc.privateKey), esKeys)).resolves.toBeUndefined();
    await expect(verifyAccessToken(esToken({ alg: 'ES256', kid: 'k2' }, c), esKeys)).resolves.toBeUndefined();
    await expect(verifyAccessToken(esToken({ alg: 'ES256' }, c), esKeys)).resolves.toBeUndefined();
    await expect(verifyAccessToken(esToken({ alg: 'ES256', kid: 'k1' }, c, ec.privateKey, 'der'), esKeys)).resolves.toBeUndefined();
    await expect(verifyAccessToken(respelled(good), esKeys)).resolves.toBeUndefined();
    // The public key's PEM used as an HMAC secret: the classic algorithm confusion.
    const pem = ec.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    await expect(verifyAccessToken(hsToken({ alg: 'HS256', kid: 'k1' }, c, pem), esKeys)).resolves.toBeUndefined();
    await expect(verifyAccessToken(hsToken({ alg: 'ES256', kid: 'k1' }, c, pem), esKeys)).resolves.toBeUndefined();
  });

  it("takes a host's keys given as strings (an HS256 secret, an ES256 PEM), and a key lookup that throws is a refusal", async () => {
    const c = claims();
    await expect(verifyAccessToken(hsToken({ alg: 'HS256' }, c), new TestKeys('HS256', { '(none)': SECRET }))).resolves.toEqual(c);
    const pem = ec.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    await expect(verifyAccessToken(esToken({ alg: 'ES256', kid: 'k1' }, c), new TestKeys('ES256', { k1: pem }))).resolves.toEqual(c);
    const failing = new TestKeys('HS256', {});
    failing.verificationKey = () => Promise.reject(new Error('JWKS endpoint down'));
    await expect(verifyAccessToken(hsToken({ alg: 'HS256' }, c), failing)).resolves.toBeUndefined();
  });

  it('a header remembered from a verified token changes no verdict: its next tokens still need their signature, their key, their alg', async () => {
    // A header no other test uses, so its first token below is the one that may be remembered.
    const header = { alg: 'HS256', typ: 'JWT', kid: 'remembered' };
    const keys = new TestKeys('HS256', { remembered: createSecretKey(Buffer.from(SECRET)) });
    const forged = () => hsToken(header, claims(), 'not-the-secret-0123456789abcdef0123456789');
    await expect(verifyAccessToken(forged(), keys)).resolves.toBeUndefined();
    const c = claims();
    await expect(verifyAccessToken(hsToken(header, c), keys)).resolves.toEqual(c);
    // The same header text again, with what must still be refused.
    await expect(verifyAccessToken(forged(), keys)).resolves.toBeUndefined();
    await expect(verifyAccessToken(respelled(hsToken(header, claims())), keys)).resolves.toBeUndefined();
    await expect(verifyAccessToken(hsToken(header, claims({ exp: now() - 1 })), keys)).resolves.toBeUndefined();
    await expect(verifyAccessToken(hsToken(header, claims()), new TestKeys('HS256', {}))).resolves.toBeUndefined();
    await expect(verifyAccessToken(hsToken(header, claims()), new TestKeys('ES256', { remembered: ec.publicKey }))).resolves.toBeUndefined();
    await expect(verifyAccessToken(hsToken(header, c), keys)).resolves.toEqual(c);
  });
});

describe('verifyAccessToken: a token verified before', () => {
  it('is accepted again only while its kid names the same key under the same algorithm, and while it is in date', async () => {
    const T = now();
    const secret = createSecretKey(Buffer.from(SECRET));
    const table: Record<string, KeyObject | string> = { again: secret };
    const keys = new TestKeys('HS256', table);
    const header = { alg: 'HS256', kid: 'again' };
    const c = claims({ nbf: T, exp: T + 600 });
    const token = hsToken(header, c);
    await expect(verifyAccessToken(token, keys, T)).resolves.toEqual(c);
    await expect(verifyAccessToken(token, keys, T + 10)).resolves.toEqual(c);
    // Its dates, on every hit.
    await expect(verifyAccessToken(token, keys, T + 600)).resolves.toBeUndefined();
    await expect(verifyAccessToken(token, keys, T - 1)).resolves.toBeUndefined();
    // The same text with another signature is another token, and a forgery.
    await expect(verifyAccessToken(hsToken(header, c, 'not-the-secret-0123456789abcdef0123456789'), keys, T)).resolves.toBeUndefined();
    // Another module's keys: another algorithm under that kid, or its own key object for the same secret.
    await expect(verifyAccessToken(token, new TestKeys('ES256', { again: ec.publicKey }), T)).resolves.toBeUndefined();
    await expect(verifyAccessToken(token, new TestKeys('HS256', { again: createSecretKey(Buffer.from(SECRET)) }), T)).resolves.toEqual(c);
    await expect(verifyAccessToken(token, keys, T)).resolves.toEqual(c);
    // Its key replaced under the same kid, then taken out: refused from then on.
    table.again = createSecretKey(Buffer.from('another-secret-0123456789abcdef0123456789'));
    await expect(verifyAccessToken(token, keys, T)).resolves.toBeUndefined();
    table.again = secret;
    await expect(verifyAccessToken(token, keys, T)).resolves.toEqual(c);
    delete table.again;
    await expect(verifyAccessToken(token, keys, T)).resolves.toBeUndefined();
    const failing = new TestKeys('HS256', { again: secret });
    failing.verificationKey = () => Promise.reject(new Error('JWKS endpoint down'));
    await expect(verifyAccessToken(token, failing, T)).resolves.toBeUndefined();
  });

  it('comes back frozen: requests that bring the same token share its claims', async () => {
    const c = claims();
    const token = hsToken({ alg: 'HS256' }, c);
    const first = await verifyAccessToken(token, hsKeys);
    expect(Object.isFrozen(first)).toBe(true);
    await expect(verifyAccessToken(token, hsKeys)).resolves.toBe(first);
  });
});

describe('bearerToken', () => {
  it.each([
    ['Bearer abc.def.ghi', 'abc.def.ghi'],
    ['bearer abc.def.ghi', 'abc.def.ghi'],
    ['BEARER abc.def.ghi', 'abc.def.ghi'],
    ['Bearer  abc.def.ghi ', 'abc.def.ghi'],
    ['Bearer abc def', undefined],
    ['Bearer ', undefined],
    ['Bearerabc.def.ghi', undefined],
    ['Basic abc.def.ghi', undefined],
    [' Bearer abc.def.ghi', undefined],
    ['', undefined],
    [undefined, undefined],
    [['Bearer abc.def.ghi'], undefined],
  ])('%j → %j', (header, token) => {
    expect(bearerToken(header as string | string[] | undefined)).toBe(token);
  });
});
