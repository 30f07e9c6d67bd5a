import type { ExecutionContext } from '@nestjs/common';

/** Who a request runs as, as put on `request.user` by the authentication guard. */
export interface RlsPrincipal {
  userId: string;
  sessionId: string;
}

/**
 * Checks, inside an RLS transaction running as the principal, that the principal is still allowed
 * in (e.g. its session is not revoked, its account not deactivated). Throws to refuse.
 */
export abstract class PrincipalVerifier {
  abstract verify(principal: RlsPrincipal): Promise<void>;
}

/**
 * The principal's check has been left to the request's RLS transaction, which has not run it yet.
 * `@CurrentUser()`/`@CurrentSession()` refuse to hand out a principal in this state: should that
 * transaction not run after all, the request fails closed instead of reaching its handler.
 */
export const PRINCIPAL_CHECK_PENDING = Symbol('nest-rls-auth:principal-check-pending');
/**
 * Where the principal's check runs, decided by the guard right after it accepted a token: inside the
 * request's RLS transaction when `RlsInterceptor` covers the route (no extra round trip), otherwise
 * now, in a short transaction of its own — registerRlsInterceptor: false, `@WithoutRlsTransaction()`,
 * `@Sse()` and non-HTTP contexts. Either way no handler runs for a revoked session or a deactivated
 * account, whichever guard, interceptor and decorators the host combines.
 */
export abstract class PrincipalCheck {
  abstract afterAuthentication(context: ExecutionContext, principal: RlsPrincipal): Promise<void>;
}

/**
 * A resource server's check: it has no session store, so a token is honoured until it expires
 * (documented on `AuthModule.forResourceServer`). Provided explicitly, never by omission.
 */
export class TokenOnlyPrincipalCheck extends PrincipalCheck {
  async afterAuthentication(): Promise<void> {}
}

/** The authenticated caller: `{ userId, sessionId }` from the verified access token. */
export type AuthPrincipal = RlsPrincipal;
