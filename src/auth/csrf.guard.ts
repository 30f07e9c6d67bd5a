import { CanActivate, ExecutionContext, ForbiddenException, Injectable, Logger } from '@nestjs/common';
import type { Request } from 'express';
import { AuthSettings } from '../core/settings';
import { normaliseOrigin } from '../core/origins';
import { SecurityEvent } from '../core/security-event';
import { RefreshCookies } from './refresh-cookie';

/**
 * Cross-site request forgery defence for the routes a refresh-token cookie authenticates (refresh,
 * logout), after the OWASP CSRF cheat sheet: Fetch Metadata, then the standard origin check.
 *
 * A request carrying the cookie is refused (403, before anything runs) when `Sec-Fetch-Site` is
 * `cross-site`, or when it has an `Origin` that is neither the service's own (scheme and host as the
 * request reached it, through a trusted proxy too) nor one of `allowedOrigins` (CORS_ORIGINS).
 * Browsers send at least one of the two on every such request; a request with neither comes from
 * a non-browser client, which holds the cookie only if it was given it, and is not refused.
 * Without the cookie nothing is ambient: bearer tokens and body tokens pass as before.
 */
@Injectable()
export class RefreshCookieCsrfGuard implements CanActivate {
  private readonly logger = new Logger('Auth');

  constructor(
    private readonly cookies: RefreshCookies,
    private readonly settings: AuthSettings,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<Request>();
    if (this.cookies.read(req) === undefined) return true;
    const refusal = crossSiteRefusal(req, this.settings.refreshToken.allowedOrigins);
    if (!refusal) return true;
    this.logger.warn(new SecurityEvent({ msg: 'Cross-site request with the refresh cookie refused', event: 'auth.csrf.refused', reason: refusal, path: req.path }));
    throw new ForbiddenException('Cross-site request refused');
  }
}

/** Why a request must not use the cookie (`cross_site_fetch`, `origin_not_allowed`), or undefined. */
export function crossSiteRefusal(req: Request, allowedOrigins: readonly string[]): 'cross_site_fetch' | 'origin_not_allowed' | undefined {
  if (req.headers['sec-fetch-site'] === 'cross-site') return 'cross_site_fetch';
  const origin = req.headers.origin;
  if (origin === undefined) return undefined;
  const sent = normaliseOrigin(origin);
  // `Origin: null` (sandboxed frames, some redirects) and anything unparsable are refused.
  if (!sent) return 'origin_not_allowed';
  if (sent === ownOrigin(req) || allowedOrigins.includes(sent)) return undefined;
  return 'origin_not_allowed';
}

/** The origin the request was sent to: Express's protocol and host (X-Forwarded-Proto/-Host only from a trusted proxy). */
function ownOrigin(req: Request): string | undefined {
  const host = req.host;
  return host ? normaliseOrigin(`${req.protocol}://${host}`) : undefined;
}
