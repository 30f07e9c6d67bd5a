import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { decode, sign, verify } from 'jsonwebtoken';
import { AccessTokenService } from '../src/auth/access-token.service';
import { LocalAccessTokenKeys } from '../src/auth/access-token-keys';
import { Clock } from '../src/core/clock';
import { AuthModuleOptions, resolveAuthSettings } from '../src/core/settings';

/**
 * AccessTokenService signs with node:crypto directly; jsonwebtoken, the library it replaced, is the
 * independent reference here (and for the verifier, in access-token-verifier.spec.ts).
 */
const AT = new Date('2026-11-30T12:00:00.123Z');
const fixedClock = { now: () => new Date(AT) } as Clock;
const REFRESH = { secret: 'test-refresh-secret-0123456789abcdef012345678' };

function signer(accessToken: AuthModuleOptions['accessToken']): { service: AccessTokenService; keys: LocalAccessTokenKeys } {
  const settings = resolveAuthSettings({ accessToken, refreshToken: REFRESH });
  const keys = new LocalAccessTokenKeys(settings, fixedClock);
  return { service: new AccessTokenService(keys, settings, fixedClock), keys };
}

const userId = randomUUID();
const sessionId = randomUUID();
const iat = Math.floor(AT.getTime() / 1000);

describe('access-token signing', () => {
  it('HS256: the token is byte for byte what jsonwebtoken signs for the same claims and options', () => {
    const secret = 'test-access-secret-0123456789abcdef0123456789';
    const { service } = signer({ secret, ttlSeconds: 600, issuer: 'issuer.example', audience: 'api.example' });
    const { token, expiresIn } = service.sign(userId, sessionId);
    const reference = sign({ sub: userId, sid: sessionId, typ: 'access', iat }, secret, {
      algorithm: 'HS256',
      issuer: 'issuer.example',
      audience: 'api.example',
      expiresIn: 600,
    });
    expect(token).toBe(reference);
    expect(expiresIn).toBe(600);
    expect(verify(token, secret, { algorithms: ['HS256'], issuer: 'issuer.example', audience: 'api.example', clockTimestamp: iat })).toEqual({
      sub: userId,
      sid: sessionId,
      typ: 'access',
      iat,
      exp: iat + 600,
      aud: 'api.example',
      iss: 'issuer.example',
    });
  });

  it('HS256: a token signed with another secret does not verify', () => {
    const { service } = signer({ secret: 'test-access-secret-0123456789abcdef0123456789' });
    const { token } = service.sign(userId, sessionId);
    expect(() => verify(token, 'another-secret-0123456789abcdef0123456789abc', { algorithms: ['HS256'], clockTimestamp: iat })).toThrow(/invalid signature/);
  });

  it('ES256: header and claims are jsonwebtoken\'s (kid included), and the r ‖ s signature verifies with the public key only', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const privateKeyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const { service, keys } = signer({ algorithm: 'ES256', privateKeyPem, ttlSeconds: 300 });
    const { token } = service.sign(userId, sessionId);
    // ECDSA signatures are randomised: compare what is signed, then check the signature.
    const reference = sign({ sub: userId, sid: sessionId, typ: 'access', iat }, privateKey, {
      algorithm: 'ES256',
      keyid: keys.keyId,
      issuer: keys.issuer,
      audience: keys.audience,
      expiresIn: 300,
    });
    expect(token.split('.').slice(0, 2)).toEqual(reference.split('.').slice(0, 2));
    expect(decode(token, { complete: true })?.header).toEqual({ alg: 'ES256', typ: 'JWT', kid: keys.keyId });
    expect(Buffer.from(token.split('.')[2], 'base64url')).toHaveLength(64);
    expect(verify(token, publicKey, { algorithms: ['ES256'], clockTimestamp: iat })).toMatchObject({ sub: userId, sid: sessionId, exp: iat + 300 });
    const other = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey;
    expect(() => verify(token, other, { algorithms: ['ES256'], clockTimestamp: iat })).toThrow(/invalid signature/);
  });
});
