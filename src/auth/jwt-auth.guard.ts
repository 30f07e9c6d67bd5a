import { ExecutionContext, Inject, Injectable, UnauthorizedException } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { AuthGuard } from '@nestjs/passport';
import { PrincipalCheck, RlsPrincipal } from '../core/principal';
import { AccessTokenKeys } from './access-token-keys';
import { IS_PUBLIC } from '../core/decorators';
import { PerRoute } from '../core/per-route';
import { ACCESS_TOKEN_KEYS, authenticateBearer } from './jwt.strategy';

/**
 * The bearer guard: every route needs a valid access token unless marked `@Public()`. Registered
 * globally by default and on the module's own controllers; a request is verified once.
 *
 * Once a token is accepted, the principal's session check (revoked session, deactivated account) is
 * scheduled or run by `PrincipalCheck`, whatever the host registers: no handler runs on a revoked
 * session. (A property, so that host subclasses keep their two-argument constructors.)
 *
 * Host apps may subclass it: `isPublic`, `handleRequest` and `onAuthenticated` are the extension points.
 */
@Injectable()
export class JwtAuthGuard extends AuthGuard('jwt') {
  @Inject(PrincipalCheck) private readonly principalCheck!: PrincipalCheck;

  constructor(
    protected readonly reflector: Reflector,
    protected readonly keys: AccessTokenKeys,
  ) {
    super();
  }

  override async canActivate(context: ExecutionContext): Promise<boolean> {
    if (this.isPublic(context)) return true;
    const req = this.getRequest(context) as Request & { user?: RlsPrincipal; [ACCESS_TOKEN_KEYS]?: AccessTokenKeys };
    // The token is verified once per request (the global guard and the route's own may both run),
    // but every guard's `onAuthenticated` runs: a host subclass on a route keeps its own check.
    if (!req.user) {
      req[ACCESS_TOKEN_KEYS] = this.keys;
      // What passport did for this guard, without its per-request machinery (an authenticate
      // middleware, a strategy object with five callbacks, the mixin's promise wrappers: about 6 µs of
      // every authenticated request in the bench's CPU profiles of S4): the same verification and
      // checks as `JwtStrategy` (`authenticateBearer`), and the verdict through `handleRequest`, as
      // AuthGuard hands it over. `JwtStrategy` stays registered for a host's own `AuthGuard('jwt')`.
      let principal: RlsPrincipal | undefined;
      let error: unknown;
      try {
        principal = await authenticateBearer(req, this.keys);
      } catch (err) {
        error = err;
      }
      const user = this.handleRequest<RlsPrincipal | false>(error, principal ?? false, undefined, context);
      // A host's `handleRequest` that lets a request through must hand over a principal.
      if (!user) throw new UnauthorizedException('Unauthorized');
      req.user = user;
      await this.principalCheck.afterAuthentication(context, user);
    }
    await this.onAuthenticated(context);
    return true;
  }

  override handleRequest<T>(err: unknown, user: T, _info?: unknown, _context?: ExecutionContext): T {
    // With a message, Nest's body carries `error` too: the shape of every other error, filter or not.
    if (err || !user) throw new UnauthorizedException('Unauthorized');
    return user;
  }

  protected isPublic(context: ExecutionContext): boolean {
    return this.publicRoutes.get(context);
  }

  private readonly publicRoutes = new PerRoute<boolean>((handler, cls) => this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, [handler, cls]) === true);

  /** Runs after a token was accepted (`request.user` is set); throw to refuse. */
  protected async onAuthenticated(_context: ExecutionContext): Promise<void> {}
}
