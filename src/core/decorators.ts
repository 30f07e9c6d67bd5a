import { createParamDecorator, ExecutionContext, SetMetadata, UnauthorizedException } from '@nestjs/common';
import { type AuthPrincipal, PRINCIPAL_CHECK_PENDING } from './principal';

export type { AuthPrincipal } from './principal';

export const IS_PUBLIC = 'auth:public';
/** Opts a route out of the global bearer-token guard. */
export const Public = (): MethodDecorator & ClassDecorator => SetMetadata(IS_PUBLIC, true);

/**
 * The caller, once its session check has passed. A check still pending means the transaction that was
 * to run it did not: refuse rather than hand out a principal nobody verified.
 */
function checkedPrincipal(ctx: ExecutionContext): AuthPrincipal {
  const req = ctx.switchToHttp().getRequest<{ user: AuthPrincipal; [PRINCIPAL_CHECK_PENDING]?: boolean }>();
  if (req[PRINCIPAL_CHECK_PENDING]) throw new UnauthorizedException();
  return req.user;
}

export const CurrentUser = createParamDecorator((_: unknown, ctx: ExecutionContext): AuthPrincipal => checkedPrincipal(ctx));

/** The id of the session the caller's access token belongs to. */
export const CurrentSession = createParamDecorator((_: unknown, ctx: ExecutionContext): string => checkedPrincipal(ctx).sessionId);

export const WITHOUT_RLS_TRANSACTION = 'rls:without-transaction';
/**
 * For routes that must not run in the request's transaction: health checks, and routes that do slow
 * work (bcrypt) and open short transactions of their own so that no pooled connection waits on it.
 * The principal's session check still runs (in a transaction of its own, from the guard).
 */
export const WithoutRlsTransaction = (): MethodDecorator & ClassDecorator => SetMetadata(WITHOUT_RLS_TRANSACTION, true);
