import { CallHandler, ExecutionContext, Inject, Injectable, NestInterceptor, Optional, SetMetadata } from '@nestjs/common';
import { INTERCEPTORS_METADATA, SSE_METADATA } from '@nestjs/common/constants';
import { Reflector } from '@nestjs/core';
import { from, lastValueFrom, Observable } from 'rxjs';
import { WITHOUT_RLS_TRANSACTION } from '../core/decorators';
import { PerRoute } from '../core/per-route';
import { PRINCIPAL_CHECK_PENDING, PrincipalCheck, PrincipalVerifier, RlsPrincipal } from '../core/principal';
import { RlsContext } from './rls.context';

const IN_RLS_TRANSACTION = Symbol('nest-rls-auth:in-rls-transaction');
/** The principal on this request has passed `PrincipalVerifier.verify`. */
const PRINCIPAL_VERIFIED = Symbol('nest-rls-auth:principal-verified');

/** `RlsInterceptor` is registered for every route of the app (`registerRlsInterceptor`, default true). */
export const RLS_INTERCEPTOR_IS_GLOBAL = Symbol('nest-rls-auth:rls-interceptor-is-global');

type CheckedRequest = {
  user?: RlsPrincipal;
  [IN_RLS_TRANSACTION]?: boolean;
  [PRINCIPAL_CHECK_PENDING]?: boolean;
  [PRINCIPAL_VERIFIED]?: boolean;
};

/**
 * Every HTTP request's handler runs inside one transaction that runs as the authenticated user (or
 * anonymously), and the handler's observable is awaited inside it, so the response is sent only after
 * the commit. The principal's check (`PrincipalVerifier`) is the transaction's first query.
 *
 * Not for server-sent events (`@Sse()`): awaiting the stream would collapse it into one value and hold
 * the transaction for its whole life. Those routes run without the request transaction, like
 * `@WithoutRlsTransaction()` ones; use `RlsContext.runAsUser` inside them for database work.
 */
@Injectable()
export class RlsInterceptor implements NestInterceptor {
  constructor(
    private readonly rls: RlsContext,
    private readonly reflector: Reflector,
    private readonly verifier: PrincipalVerifier,
    @Optional() @Inject(RLS_INTERCEPTOR_IS_GLOBAL) private readonly isGlobal: boolean = false,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'http') return next.handle();
    const req = context.switchToHttp().getRequest<CheckedRequest>();
    // Registered globally and on the module's controllers: one transaction per request.
    if (req[IN_RLS_TRANSACTION] || !this.transactionalRoutes.get(context)) return next.handle();
    req[IN_RLS_TRANSACTION] = true;
    const principal = req.user;
    return from(
      this.rls.runAsUser(principal?.userId ?? null, async () => {
        if (principal && !req[PRINCIPAL_VERIFIED]) {
          await this.verifier.verify(principal);
          markVerified(req);
        }
        return lastValueFrom(next.handle(), { defaultValue: undefined });
      }),
    );
  }

  /** Whether this interceptor will run the request's handler inside its transaction. */
  covers(context: ExecutionContext): boolean {
    return context.getType() === 'http' && this.coveredRoutes.get(context);
  }

  /** Routes whose handler runs in the request's transaction (whoever registered the interceptor). */
  private readonly transactionalRoutes = new PerRoute<boolean>(
    (handler, cls) =>
      !this.reflector.getAllAndOverride<boolean>(WITHOUT_RLS_TRANSACTION, [handler, cls]) && this.reflector.get<boolean>(SSE_METADATA, handler) !== true,
  );

  /** Transactional routes this interceptor runs on: all of them when it is global, else those it decorates. */
  private readonly coveredRoutes = new PerRoute<boolean>((handler, cls) => {
    if (!this.transactionalRoutes.getFor(handler, cls)) return false;
    if (this.isGlobal) return true;
    const interceptors = this.reflector.getAllAndMerge<unknown[]>(INTERCEPTORS_METADATA, [handler, cls]);
    return interceptors.some((i) => i === RlsInterceptor || i instanceof RlsInterceptor);
  });
}

function markVerified(req: CheckedRequest): void {
  req[PRINCIPAL_VERIFIED] = true;
  // Assigned, not deleted: `delete` turns the request object into a slow dictionary-mode object.
  if (req[PRINCIPAL_CHECK_PENDING]) req[PRINCIPAL_CHECK_PENDING] = false;
}

@Injectable()
export class RlsPrincipalCheck extends PrincipalCheck {
  constructor(
    private readonly rls: RlsContext,
    private readonly interceptor: RlsInterceptor,
    private readonly verifier: PrincipalVerifier,
  ) {
    super();
  }

  async afterAuthentication(context: ExecutionContext, principal: RlsPrincipal): Promise<void> {
    const req = context.switchToHttp().getRequest<CheckedRequest>();
    if (req[PRINCIPAL_VERIFIED]) return;
    if (this.interceptor.covers(context)) {
      req[PRINCIPAL_CHECK_PENDING] = true;
      return;
    }
    await this.rls.runAsUser(principal.userId, () => this.verifier.verify(principal));
    markVerified(req);
  }
}
