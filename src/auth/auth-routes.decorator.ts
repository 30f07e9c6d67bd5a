import { applyDecorators, UseFilters, UseGuards, UseInterceptors, UsePipes } from '@nestjs/common';
import { AppExceptionFilter } from '../core/app-exception.filter';
import { authValidationPipe } from '../core/validation';
import { RlsInterceptor } from '../database/rls.interceptor';
import { AuditContextInterceptor } from './audit-context.interceptor';
import { JwtAuthGuard } from './jwt-auth.guard';

/**
 * What the module's own controllers need whatever the host app registers globally: the bearer
 * guard, the RLS transaction, strict validation and the error mapping, and the request's client for
 * audit events. (With the global guard and interceptor registered too, each still runs once per request.)
 */
export const AuthRoutes = (): ClassDecorator =>
  applyDecorators(UseFilters(AppExceptionFilter), UseGuards(JwtAuthGuard), UseInterceptors(RlsInterceptor, AuditContextInterceptor), UsePipes(authValidationPipe()));
