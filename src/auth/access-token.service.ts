import { Injectable } from '@nestjs/common';
import { sign as signWithKey } from 'node:crypto';
import { AuthSettings } from '../core/settings';
import { Clock } from '../core/clock';
import { hmacSha256 } from '../core/hmac';
import { LocalAccessTokenKeys } from './access-token-keys';
import { ACCESS_TOKEN_TYPE } from './jwt.strategy';

export interface AccessTokenClaims {
  sub: string;
  sid: string;
  typ: typeof ACCESS_TOKEN_TYPE;
}

const base64url = (json: object): string => Buffer.from(JSON.stringify(json), 'utf8').toString('base64url');

/**
 * Signs access tokens (JWS compact serialisation, RFC 7515): HS256 with the secret's KeyObject, ES256
 * with the P-256 private key (the signature as r ‖ s, RFC 7518 §3.4). `verifyAccessToken`
 * (access-token-verifier.ts) is the other half.
 *
 * Signed here rather than through `@nestjs/jwt` and jsonwebtoken: the claims and the header are
 * fixed, so the work is one JSON encoding and one HMAC or ECDSA signature, while that path merged
 * option objects and ran jsonwebtoken's option schema and jws's stream plumbing on every call. In the
 * bench's CPU profiles of `POST /auth/refresh` (BENCH_RATE, so without contention) `@nestjs/jwt`,
 * jsonwebtoken and jwa took about 22 µs of a refresh besides the HMAC itself; here the HMAC is nearly
 * all of it. The header's bytes are made once. The output is byte-for-byte what jsonwebtoken signs
 * for the same claims (test/access-token-signer.spec.ts).
 */
@Injectable()
export class AccessTokenService {
  private readonly encodedHeader: string;

  constructor(
    private readonly keys: LocalAccessTokenKeys,
    private readonly config: AuthSettings,
    private readonly clock: Clock,
  ) {
    // jsonwebtoken's header, in its order: alg, typ, then kid when there is one.
    this.encodedHeader = base64url({ alg: keys.algorithm, typ: 'JWT', ...(keys.keyId ? { kid: keys.keyId } : {}) });
  }

  sign(userId: string, sessionId: string): { token: string; expiresIn: number } {
    const { ttlSeconds } = this.config.accessToken;
    const iat = Math.floor(this.clock.now().getTime() / 1000);
    const claims: AccessTokenClaims & { iat: number; exp: number; aud: string; iss: string } = {
      sub: userId,
      sid: sessionId,
      typ: ACCESS_TOKEN_TYPE,
      iat,
      exp: iat + ttlSeconds,
      aud: this.keys.audience,
      iss: this.keys.issuer,
    };
    const signingInput = `${this.encodedHeader}.${base64url(claims)}`;
    return { token: `${signingInput}.${this.signature(signingInput)}`, expiresIn: ttlSeconds };
  }

  private signature(signingInput: string): string {
    const key = this.keys.signingKey();
    if (this.keys.algorithm === 'HS256') return hmacSha256(key, signingInput).toString('base64url');
    return signWithKey('sha256', Buffer.from(signingInput, 'utf8'), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url');
  }
}
