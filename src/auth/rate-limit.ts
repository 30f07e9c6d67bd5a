import { ExecutionContext, Injectable, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ThrottlerGuard, ThrottlerLimitDetail, ThrottlerModuleOptions } from '@nestjs/throttler';
import type { Request, Response } from 'express';
import { AuthSettings } from './auth-settings';
import { SlidingWindowThrottlerStorage } from './throttler-storage';

export type RateLimitedRoute = 'login' | 'register' | 'refresh';
const RATE_LIMITED_ROUTE = 'auth:rate-limited-route';
export const RateLimited = (route: RateLimitedRoute): MethodDecorator => SetMetadata(RATE_LIMITED_ROUTE, route);

const routeOf = (reflector: Reflector, context: ExecutionContext): RateLimitedRoute | undefined =>
  reflector.get<RateLimitedRoute>(RATE_LIMITED_ROUTE, context.getHandler());

/** The account a login attempt is for, as the service will look it up. */
function loginAccount(req: Request): string {
  const email = (req.body as { email?: unknown } | undefined)?.email;
  return typeof email === 'string' ? email.trim().toLowerCase() : '';
}

/**
 * Two throttlers over sliding windows of RATE_LIMIT_WINDOW_SECONDS: `ip` (per client IP, as Express
 * computes it under TRUST_PROXY) for login, register and refresh, each with its own limit; and
 * `account` (per email) for login only, so one account cannot be guessed at from many addresses.
 * Counters live in memory, per instance (SlidingWindowThrottlerStorage: the stock storage's
 * semantics at O(1) per request).
 */
export function rateLimitOptions(config: AuthSettings): ThrottlerModuleOptions {
  const limits = config.rateLimit;
  const reflector = new Reflector();
  const perIp: Record<RateLimitedRoute, number> = {
    login: limits.loginPerIp,
    register: limits.registerPerIp,
    refresh: limits.refreshPerIp,
  };
  return {
    storage: new SlidingWindowThrottlerStorage(),
    errorMessage: 'Too many requests, try again later',
    throttlers: [
      {
        name: 'ip',
        ttl: limits.windowSeconds * 1000,
        limit: (context) => perIp[routeOf(reflector, context) ?? 'login'],
      },
      {
        name: 'account',
        ttl: limits.windowSeconds * 1000,
        limit: limits.loginPerAccount,
        getTracker: (req) => `account:${loginAccount(req as Request)}`,
        skipIf: (context) =>
          routeOf(reflector, context) !== 'login' || loginAccount(context.switchToHttp().getRequest<Request>()) === '',
      },
    ],
  };
}

/** `@nestjs/throttler`'s guard, answering 429 with a plain `Retry-After` header (seconds). */
@Injectable()
export class AuthRateLimitGuard extends ThrottlerGuard {
  protected override async throwThrottlingException(context: ExecutionContext, detail: ThrottlerLimitDetail): Promise<void> {
    context.switchToHttp().getResponse<Response>().setHeader('Retry-After', String(Math.max(1, detail.timeToBlockExpire)));
    return super.throwThrottlingException(context, detail);
  }
}
