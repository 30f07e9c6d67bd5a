import { Injectable } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { AuthSettings } from '../core/settings';
import { Clock } from '../core/clock';
import { LocalAccessTokenKeys } from './access-token-keys';
import { ACCESS_TOKEN_TYPE } from './jwt.strategy';

export interface AccessTokenClaims {
  sub: string;
  sid: string;
  typ: typeof ACCESS_TOKEN_TYPE;
}

/** Signs access tokens; verification is the passport-jwt strategy's, with the same pinned settings. */
@Injectable()
export class AccessTokenService {
  constructor(
    private readonly jwt: JwtService,
    private readonly keys: LocalAccessTokenKeys,
    private readonly config: AuthSettings,
    private readonly clock: Clock,
  ) {}

  sign(userId: string, sessionId: string): { token: string; expiresIn: number } {
    const { ttlSeconds: accessTtlSeconds } = this.config.accessToken;
    const claims: AccessTokenClaims & { iat: number } = {
      sub: userId,
      sid: sessionId,
      typ: ACCESS_TOKEN_TYPE,
      iat: Math.floor(this.clock.now().getTime() / 1000),
    };
    const token = this.jwt.sign(claims, {
      privateKey: this.keys.signingKey(),
      algorithm: this.keys.algorithm,
      ...(this.keys.keyId ? { keyid: this.keys.keyId } : {}),
      issuer: this.keys.issuer,
      audience: this.keys.audience,
      expiresIn: accessTtlSeconds,
    });
    return { token, expiresIn: accessTtlSeconds };
  }
}
