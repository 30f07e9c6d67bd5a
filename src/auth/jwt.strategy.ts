import { Injectable, UnauthorizedException } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import type { Request } from 'express';
import { decode } from 'jsonwebtoken';
import { ExtractJwt, Strategy } from 'passport-jwt';
import { ACCESS_TOKEN_ALGORITHMS } from '../core/settings';
import { AccessTokenKeys } from './access-token-keys';
import { AuthPrincipal } from '../core/decorators';

export const ACCESS_TOKEN_TYPE = 'access';
/** Where the guard puts the keys (and pinned settings) of the module that protects the route. */
export const ACCESS_TOKEN_KEYS = Symbol('nest-rls-auth:access-token-keys');
/** ACCESS_TOKEN_TTL cannot exceed this (config), so no genuine token lives longer. */
const MAX_ACCESS_TOKEN_LIFETIME_SECONDS = 86_400;
/** How far ahead of the verifier's clock a token's `iat` may be (the issuer's clock may run a little fast). */
const MAX_CLOCK_SKEW_SECONDS = 60;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

type KeyedRequest = Request & { [ACCESS_TOKEN_KEYS]?: AccessTokenKeys };

/**
 * The token's header as jsonwebtoken reads it, or undefined when the token does not decode — which
 * includes `decode` throwing: with `typ: JWT` it parses the payload too, and throws on bad JSON there.
 */
function headerOf(rawJwt: string): { kid?: unknown; alg?: unknown } | undefined {
  try {
    return (decode(rawJwt, { complete: true }) as { header?: { kid?: unknown; alg?: unknown } } | null)?.header ?? undefined;
  } catch {
    return undefined;
  }
}

/**
 * Verifies the bearer access token (passport-jwt): the `alg` in its header must be exactly the one
 * configured, the key is the one its `kid` names, then signature, issuer, audience, expiry,
 * not-before, a bounded lifetime, an `iat` not in the future (60 s of clock skew allowed) and `typ`.
 * No database access — guards run before the RLS transaction; the session check happens inside it.
 *
 * passport keeps strategies in one process-wide registry, so this strategy holds no keys itself:
 * `JwtAuthGuard` hands it its module's `AccessTokenKeys` on the request. Several apps (an issuer and
 * a resource server, or tests) can then live in one process without verifying with each other's keys.
 */
@Injectable()
export class JwtStrategy extends PassportStrategy(Strategy, 'jwt') {
  constructor() {
    super({
      jwtFromRequest: ExtractJwt.fromAuthHeaderAsBearerToken(),
      secretOrKeyProvider: (req: KeyedRequest, rawJwt: string, done: (err: unknown, key?: string | Buffer) => void) => {
        const keys = req[ACCESS_TOKEN_KEYS];
        const header = headerOf(rawJwt);
        if (!keys || !header || header.alg !== keys.algorithm || (header.kid !== undefined && typeof header.kid !== 'string')) {
          return done(new UnauthorizedException());
        }
        keys.verificationKey(header.kid as string | undefined).then(
          // jsonwebtoken takes KeyObjects too; passport-jwt's types only say string | Buffer.
          (key) => (key ? done(null, key as string) : done(new UnauthorizedException())),
          () => done(new UnauthorizedException()),
        );
      },
      // The header check above pins the module's one algorithm; this list only bounds what
      // jsonwebtoken may be asked to do (never `none`).
      algorithms: [...ACCESS_TOKEN_ALGORITHMS],
      ignoreExpiration: false,
      passReqToCallback: true,
    });
  }

  validate(req: KeyedRequest, payload: Record<string, unknown>): AuthPrincipal {
    const keys = req[ACCESS_TOKEN_KEYS];
    const { sub, sid, typ, iss, aud, exp, iat } = payload;
    const audiences = Array.isArray(aud) ? aud : [aud];
    if (
      !keys ||
      // jsonwebtoken checks `exp` only when present: require it, and a bounded lifetime.
      typeof exp !== 'number' ||
      typeof iat !== 'number' ||
      exp - iat > MAX_ACCESS_TOKEN_LIFETIME_SECONDS ||
      // The lifetime bound above trusts `iat`: a token with iat and exp years ahead would pass it.
      iat > keys.now().getTime() / 1000 + MAX_CLOCK_SKEW_SECONDS ||
      iss !== keys.issuer ||
      !audiences.includes(keys.audience) ||
      typ !== ACCESS_TOKEN_TYPE ||
      typeof sub !== 'string' ||
      typeof sid !== 'string' ||
      !UUID.test(sub) ||
      !UUID.test(sid)
    ) {
      throw new UnauthorizedException();
    }
    return { userId: sub, sessionId: sid };
  }
}
