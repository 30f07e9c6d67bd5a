import { ExecutionContext, Inject, Injectable } from '@nestjs/common';
import type { Request } from 'express';
import { JwtAuthGuard } from './jwt-auth.guard';
import { RefreshCookies } from './refresh-cookie';

/**
 * For routes marked `@Public()` that a bearer token or, failing one, the refresh-token cookie
 * authenticates (`POST /auth/logout`): a request with an `Authorization` header, or with neither,
 * is authenticated as the bearer guard does (so a missing token is still a 401); one with only the
 * cookie is let through for the handler to check the cookie's token.
 */
@Injectable()
export class BearerOrRefreshCookieGuard extends JwtAuthGuard {
  @Inject(RefreshCookies) private readonly cookies!: RefreshCookies;

  protected override isPublic(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<Request>();
    return req.headers.authorization === undefined && this.cookies.read(req) !== undefined;
  }
}
