import { Injectable, UnauthorizedException } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import type { Request } from 'express';
import { AccessTokenKeys } from './access-token-keys';
import { bearerToken, verifyAccessToken } from './access-token-verifier';
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
type Verified = (req: KeyedRequest, claims: Readonly<Record<string, unknown>>, done: (err: unknown, user?: unknown) => void) => void;

/** What passport adds to the object it makes from a strategy for one authentication. */
interface PassportActions {
  success(user: unknown): void;
  fail(): void;
  error(err: unknown): void;
}

/**
 * A passport strategy for the bearer access token: passport calls `authenticate` on an object made
 * from the registered instance, with `success`, `fail` and `error` added. The token is verified by
 * `verifyAccessToken` with the keys `JwtAuthGuard` put on the request; the claims then go to the
 * `validate` of the `PassportStrategy` mixin, as with any @nestjs/passport strategy.
 */
export class BearerAccessTokenStrategy {
  constructor(private readonly verified: Verified) {}

  authenticate(this: BearerAccessTokenStrategy & PassportActions, req: KeyedRequest): void {
    const token = bearerToken(req.headers.authorization);
    const keys = req[ACCESS_TOKEN_KEYS];
    if (!token || !keys) return this.fail();
    verifyAccessToken(token, keys).then(
      (claims) => {
        if (!claims) return this.fail();
        this.verified(req, claims, (err, user) => (err ? this.error(err) : user ? this.success(user) : this.fail()));
      },
      (err: unknown) => this.error(err),
    );
  }
}

/**
 * Verifies the bearer access token (`verifyAccessToken`: shape, the module's one `alg`, the key its
 * `kid` names, signature, expiry, not-before), then here: issuer, audience, a bounded lifetime, an
 * `iat` not in the future (60 s of clock skew allowed), `typ`, and `sub` and `sid` as UUIDs.
 * No database access — guards run before the RLS transaction; the session check happens inside it.
 *
 * passport keeps strategies in one process-wide registry, so this strategy holds no keys itself:
 * `JwtAuthGuard` hands it its module's `AccessTokenKeys` on the request. Several apps (an issuer and
 * a resource server, or tests) can then live in one process without verifying with each other's keys.
 */
@Injectable()
export class JwtStrategy extends PassportStrategy(BearerAccessTokenStrategy, 'jwt') {
  constructor() {
    super();
  }

  validate(req: KeyedRequest, payload: Readonly<Record<string, unknown>>): AuthPrincipal {
    return principalOf(req[ACCESS_TOKEN_KEYS], payload);
  }
}

/**
 * The bearer token's principal: `verifyAccessToken`'s checks, then `principalOf`'s. Undefined for a
 * request without a well-formed bearer token or with one that does not verify; throws
 * UnauthorizedException for a token whose claims are refused.
 */
export async function authenticateBearer(req: Request, keys: AccessTokenKeys): Promise<AuthPrincipal | undefined> {
  const token = bearerToken(req.headers.authorization);
  if (!token) return undefined;
  const claims = await verifyAccessToken(token, keys);
  return claims && principalOf(keys, claims);
}

/** The claims `JwtStrategy.validate` checks beyond the verifier's (its doc comment lists them). */
function principalOf(keys: AccessTokenKeys | undefined, payload: Readonly<Record<string, unknown>>): AuthPrincipal {
  const { sub, sid, typ, iss, aud, exp, iat } = payload;
  const audiences = Array.isArray(aud) ? aud : [aud];
  if (
    !keys ||
    // `exp` is checked by the verifier already; a bounded lifetime is checked here.
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
