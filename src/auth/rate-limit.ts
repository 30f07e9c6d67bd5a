import { ExecutionContext, HttpException, HttpStatus, Inject, Injectable, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import {
  InjectThrottlerOptions,
  InjectThrottlerStorage,
  ThrottlerGuard,
  ThrottlerLimitDetail,
  ThrottlerModuleOptions,
  ThrottlerStorage,
} from '@nestjs/throttler';
import type { Request, Response } from 'express';
import { clientIpOf } from '../core/ip';
import type { RlsPrincipal } from '../core/principal';
import { StaticMetadataReflector } from '../core/per-route';
import { AuthSettings } from '../core/settings';
import { LoginFailureLimiter } from './login-failures';
import { SlidingWindowThrottlerStorage } from './throttler-storage';

export type RateLimitedRoute = 'login' | 'register' | 'refresh' | 'password';
const RATE_LIMITED_ROUTE = 'auth:rate-limited-route';
export const RateLimited = (route: RateLimitedRoute): MethodDecorator => SetMetadata(RATE_LIMITED_ROUTE, route);

/** The throttlers' questions about a route, answered once per route (`StaticMetadataReflector`). */
const routeMetadata = new StaticMetadataReflector();

const routeOf = (reflector: Reflector, context: ExecutionContext): RateLimitedRoute | undefined =>
  reflector.get<RateLimitedRoute>(RATE_LIMITED_ROUTE, context.getHandler());

const TOO_MANY = 'Too many requests, try again later';

/**
 * Two throttlers over sliding windows of RATE_LIMIT_WINDOW_SECONDS, counting attempts: `ip` (per
 * client IP, as Express computes it under TRUST_PROXY) for login, register, refresh and password
 * change, each with its own limit; and `user` (per signed-in user) for password change, so one stolen
 * access token cannot guess the current password from many addresses. Failed sign-ins per account are
 * counted apart (`LoginFailureLimiter`). Counters live in memory, per instance
 * (SlidingWindowThrottlerStorage: the stock storage's semantics at O(1) per request).
 */
export function rateLimitOptions(config: AuthSettings): ThrottlerModuleOptions {
  const limits = config.rateLimit;
  const reflector = routeMetadata;
  const perIp: Record<RateLimitedRoute, number> = {
    login: limits.loginPerIp,
    register: limits.registerPerIp,
    refresh: limits.refreshPerIp,
    password: limits.passwordPerIp,
  };
  return {
    storage: new SlidingWindowThrottlerStorage(),
    errorMessage: TOO_MANY,
    // The stock key is a SHA-256 of the same text, made on every request of a limited route; the
    // text itself (route, throttler, client IP or user id: all short) keys the in-memory counters as well.
    generateKey: (context, tracker, name) => `${name}:${context.getClass().name}.${context.getHandler().name}:${tracker}`,
    throttlers: [
      {
        name: 'ip',
        ttl: limits.windowSeconds * 1000,
        limit: (context) => perIp[routeOf(reflector, context) ?? 'login'],
        // The stock tracker is `req.ip` itself; this is the same address, normalised and kept on the request.
        getTracker: (req) => clientIpOf(req as Parameters<typeof clientIpOf>[0]) ?? '',
      },
      {
        name: 'user',
        ttl: limits.windowSeconds * 1000,
        limit: limits.passwordPerUser,
        // Runs after the bearer guard, which put the verified principal on the request.
        getTracker: (req) => `user:${(req as { user?: RlsPrincipal }).user?.userId ?? ''}`,
        skipIf: (context) => routeOf(reflector, context) !== 'password' || !context.switchToHttp().getRequest<{ user?: RlsPrincipal }>().user,
      },
    ],
  };
}

/**
 * `@nestjs/throttler`'s guard, answering 429 with a plain `Retry-After` header (seconds); on login it
 * also refuses an account and client IP past their failed sign-ins (`LoginFailureLimiter`).
 */
@Injectable()
export class AuthRateLimitGuard extends ThrottlerGuard {
  // A property, so the constructor keeps the stock guard's first two parameters.
  @Inject(LoginFailureLimiter) private readonly loginFailures!: LoginFailureLimiter;

  /** The stock guard's parameters, but its `Reflector` answers each question once per route. */
  constructor(@InjectThrottlerOptions() options: ThrottlerModuleOptions, @InjectThrottlerStorage() storage: ThrottlerStorage) {
    super(options, storage, routeMetadata);
  }

  override async canActivate(context: ExecutionContext): Promise<boolean> {
    await super.canActivate(context);
    if (routeOf(this.reflector, context) === 'login') {
      const req = context.switchToHttp().getRequest<Request>();
      const email = (req.body as { email?: unknown } | undefined)?.email;
      if (typeof email === 'string') {
        const retryAfter = this.loginFailures.retryAfterSeconds(email, clientIpOf(req));
        if (retryAfter > 0) throw tooMany(context, retryAfter);
      }
    }
    return true;
  }

  protected override async throwThrottlingException(context: ExecutionContext, detail: ThrottlerLimitDetail): Promise<void> {
    throw tooMany(context, detail.timeToBlockExpire);
  }
}

function tooMany(context: ExecutionContext, retryAfterSeconds: number): HttpException {
  context.switchToHttp().getResponse<Response>().setHeader('Retry-After', String(Math.max(1, retryAfterSeconds)));
  return new HttpException({ statusCode: HttpStatus.TOO_MANY_REQUESTS, message: TOO_MANY, error: 'Too Many Requests' }, HttpStatus.TOO_MANY_REQUESTS);
}
