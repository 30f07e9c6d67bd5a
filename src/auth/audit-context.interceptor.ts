import { CallHandler, ExecutionContext, Injectable, NestInterceptor } from '@nestjs/common';
import type { Request } from 'express';
import { Observable } from 'rxjs';
import { runWithAuditContext } from '../audit/audit-context';
import { clientIpOf } from '../core/ip';
import { userAgentOf } from '../sessions/device';

/**
 * Runs the handler with the request's client (IP as sessions record it, under TRUST_PROXY; the
 * User-Agent) as the context of every audit event recorded inside it. The handler runs when the
 * returned observable is subscribed, so the subscription is made inside the context.
 */
@Injectable()
export class AuditContextInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'http') return next.handle();
    const req = context.switchToHttp().getRequest<Request>();
    const client = { ipAddress: clientIpOf(req), userAgent: userAgentOf(req) };
    return new Observable((subscriber) => runWithAuditContext(client, () => next.handle().subscribe(subscriber)));
  }
}
