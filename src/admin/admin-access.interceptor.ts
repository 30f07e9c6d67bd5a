import { CallHandler, ExecutionContext, Injectable, NestInterceptor, UnauthorizedException } from '@nestjs/common';
import { defer, lastValueFrom, Observable } from 'rxjs';
import type { RlsPrincipal } from '../core/principal';
import { AdminSessionsService } from './admin-sessions.service';

/**
 * Asks the database, in the request's RLS transaction and before the handler (and before input
 * validation, so a non-admin learns nothing from a 400), whether the caller is an active admin:
 * 403 otherwise. Not the only lock: every admin function in the database checks again itself.
 */
@Injectable()
export class AdminAccessInterceptor implements NestInterceptor {
  constructor(private readonly admin: AdminSessionsService) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const principal = context.switchToHttp().getRequest<{ user?: RlsPrincipal }>().user;
    if (!principal) throw new UnauthorizedException();
    return defer(async () => {
      await this.admin.assertAdmin(principal.userId);
      return lastValueFrom(next.handle(), { defaultValue: undefined });
    });
  }
}
