import { Injectable } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { AppConfig } from '../config/app-config';
import { Clock } from '../database/clock';

export const ACCESS_TOKEN_ALGORITHM = 'HS256';
export const ACCESS_TOKEN_TYPE = 'access';

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
    private readonly config: AppConfig,
    private readonly clock: Clock,
  ) {}

  sign(userId: string, sessionId: string): { token: string; expiresIn: number } {
    const { accessSecret, issuer, audience, accessTtlSeconds } = this.config.auth;
    const claims: AccessTokenClaims & { iat: number } = {
      sub: userId,
      sid: sessionId,
      typ: ACCESS_TOKEN_TYPE,
      iat: Math.floor(this.clock.now().getTime() / 1000),
    };
    const token = this.jwt.sign(claims, {
      secret: accessSecret,
      algorithm: ACCESS_TOKEN_ALGORITHM,
      issuer,
      audience,
      expiresIn: accessTtlSeconds,
    });
    return { token, expiresIn: accessTtlSeconds };
  }
}
