import { CallHandler, ExecutionContext, Injectable, NestInterceptor, Optional, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { from, lastValueFrom, Observable } from 'rxjs';
import { RlsContext } from './rls.context';

/** Who a request runs as, as put on `request.user` by the authentication guard. */
export interface RlsPrincipal {
  userId: string;
  sessionId: string;
}

/**
 * Checks, inside the request's RLS transaction and before the handler runs, that the principal is
 * still allowed in (e.g. its session is not revoked). Throws to refuse.
 */
export abstract class PrincipalVerifier {
  abstract verify(principal: RlsPrincipal): Promise<void>;
}

const WITHOUT_RLS_TRANSACTION = 'rls:without-transaction';
const IN_RLS_TRANSACTION = Symbol('nest-rls-auth:in-rls-transaction');
/** For routes that must answer without a database transaction (health checks). */
export const WithoutRlsTransaction = (): MethodDecorator & ClassDecorator => SetMetadata(WITHOUT_RLS_TRANSACTION, true);

/**
 * Global and outermost: every HTTP request's handler runs inside one transaction that runs as the
 * authenticated user (or anonymously), and the handler's observable is awaited inside it, so the
 * response is sent only after the commit.
 */
@Injectable()
export class RlsInterceptor implements NestInterceptor {
  constructor(
    private readonly rls: RlsContext,
    private readonly reflector: Reflector,
    @Optional() private readonly verifier?: PrincipalVerifier,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'http') return next.handle();
    if (this.reflector.getAllAndOverride<boolean>(WITHOUT_RLS_TRANSACTION, [context.getHandler(), context.getClass()])) {
      return next.handle();
    }
    const req = context.switchToHttp().getRequest<{ user?: RlsPrincipal; [IN_RLS_TRANSACTION]?: boolean }>();
    // Registered globally and on the module's controllers: one transaction per request.
    if (req[IN_RLS_TRANSACTION]) return next.handle();
    req[IN_RLS_TRANSACTION] = true;
    const principal = req.user;
    return from(
      this.rls.runAsUser(principal?.userId ?? null, async () => {
        if (principal && this.verifier) await this.verifier.verify(principal);
        return lastValueFrom(next.handle(), { defaultValue: undefined });
      }),
    );
  }
}
