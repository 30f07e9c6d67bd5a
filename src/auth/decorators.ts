import { createParamDecorator, ExecutionContext, SetMetadata, UnauthorizedException } from '@nestjs/common';
import { PRINCIPAL_CHECK_PENDING, type RlsPrincipal } from '../database/rls.interceptor';

export const IS_PUBLIC = 'auth:public';
/** Opts a route out of the global bearer-token guard. */
export const Public = (): MethodDecorator & ClassDecorator => SetMetadata(IS_PUBLIC, true);

/** The authenticated caller: `{ userId, sessionId }` from the verified access token. */
export type AuthPrincipal = RlsPrincipal;

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
