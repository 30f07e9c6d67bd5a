import { createParamDecorator, ExecutionContext, SetMetadata } from '@nestjs/common';
import type { RlsPrincipal } from '../database/rls.interceptor';

export const IS_PUBLIC = 'auth:public';
/** Opts a route out of the global bearer-token guard. */
export const Public = (): MethodDecorator & ClassDecorator => SetMetadata(IS_PUBLIC, true);

/** The authenticated caller: `{ userId, sessionId }` from the verified access token. */
export type AuthPrincipal = RlsPrincipal;

export const CurrentUser = createParamDecorator((_: unknown, ctx: ExecutionContext): AuthPrincipal => {
  return ctx.switchToHttp().getRequest<{ user: AuthPrincipal }>().user;
});

/** The id of the session the caller's access token belongs to. */
export const CurrentSession = createParamDecorator((_: unknown, ctx: ExecutionContext): string => {
  return ctx.switchToHttp().getRequest<{ user: AuthPrincipal }>().user.sessionId;
});
