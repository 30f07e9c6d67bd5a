import { DynamicModule, Provider } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_INTERCEPTOR, RouterModule } from '@nestjs/core';
import { PassportModule } from '@nestjs/passport';
import { ThrottlerModule } from '@nestjs/throttler';
import { MikroOrmModule } from '@mikro-orm/nestjs';
import { PostgreSqlDriver } from '@mikro-orm/postgresql';
import { AdminModule } from '../admin/admin.module';
import { AuditModule } from '../audit/audit.module';
import { AppExceptionFilter } from '../core/app-exception.filter';
import { Clock } from '../core/clock';
import { PrincipalCheck } from '../core/principal';
import { AuthSettings, resolveAuthSettings } from '../core/settings';
import { RlsContext } from '../database/rls.context';
import { RLS_INTERCEPTOR_IS_GLOBAL, RlsInterceptor, RlsPrincipalCheck } from '../database/rls.interceptor';
import { RuntimeRoleCheck } from '../database/runtime-role.check';
import { SessionsModule } from '../sessions/sessions.module';
import { UsersModule } from '../users/users.module';
import { AccessTokenKeys, LocalAccessTokenKeys } from './access-token-keys';
import { AccessTokenService } from './access-token.service';
import { AdminController } from './admin.controller';
import { AuthController } from './auth.controller';
import { AuthEventsController } from './auth-events.controller';
import type { AuthModuleExtras } from './auth.module-definition';
import { AuthService } from './auth.service';
import { JwksController } from './jwks.controller';
import { JwtAuthGuard } from './jwt-auth.guard';
import { JwtStrategy } from './jwt.strategy';
import { LoginFailureLimiter } from './login-failures';
import { runtimeOrmOptions } from './orm-options';
import { RefreshCookieCsrfGuard } from './csrf.guard';
import { AuthRateLimitGuard, rateLimitOptions } from './rate-limit';
import { RefreshCookies } from './refresh-cookie';
import { BearerOrRefreshCookieGuard } from './refresh-cookie-auth.guard';
import { SessionsController } from './sessions.controller';

/** Where `AuthModule.forRoot` puts its options as given; everything else injects the resolved `AuthSettings`. */
export const AUTH_MODULE_OPTIONS = Symbol('nest-rls-auth:auth-module-options');

/** The module's own MikroORM instance on the runtime role's connection (`database` option). */
const ownOrm = MikroOrmModule.forRootAsync({
  driver: PostgreSqlDriver,
  inject: [AuthSettings],
  useFactory: (settings: AuthSettings) => {
    if (!settings.database?.url) throw new Error('AuthModule needs the `database.url` option, or `useHostOrm: true` with your own MikroOrmModule.forRoot');
    // No per-request RequestContext fork: every query of the module runs in an RLS transaction
    // with a fork of its own (RlsContext), so the middleware's fork was work thrown away.
    return { ...runtimeOrmOptions(settings.database), registerRequestContext: false };
  },
});

const providers: Provider[] = [
  Clock,
  RlsContext,
  RuntimeRoleCheck,
  LocalAccessTokenKeys,
  { provide: AccessTokenKeys, useExisting: LocalAccessTokenKeys },
  AuthService,
  AccessTokenService,
  JwtStrategy,
  JwtAuthGuard,
  AuthRateLimitGuard,
  LoginFailureLimiter,
  RefreshCookies,
  RefreshCookieCsrfGuard,
  BearerOrRefreshCookieGuard,
  RlsInterceptor,
  { provide: PrincipalCheck, useClass: RlsPrincipalCheck },
];

/** What a host app may inject (the module is global). */
const exported = [AuthSettings, Clock, RlsContext, AccessTokenKeys, AuthService, JwtAuthGuard, PrincipalCheck, RlsInterceptor, UsersModule, SessionsModule, AuditModule, AdminModule];

/** `AuthModule.forRoot`/`forRootAsync`: the builder's options provider plus everything the module is made of. */
export function authModuleParts(definition: DynamicModule, extras: AuthModuleExtras): DynamicModule {
  return {
    ...definition,
    global: true,
    imports: [
      ...(definition.imports ?? []),
      ...(extras.useHostOrm ? [] : [ownOrm]),
      PassportModule,
      ThrottlerModule.forRootAsync({ inject: [AuthSettings], useFactory: rateLimitOptions }),
      UsersModule,
      SessionsModule,
      AuditModule,
      AdminModule,
      ...(extras.routePrefix ? [RouterModule.register([{ path: extras.routePrefix, module: definition.module }])] : []),
    ],
    controllers: [AuthController, AuthEventsController, SessionsController, AdminController, JwksController],
    providers: [
      ...(definition.providers ?? []),
      { provide: AuthSettings, useFactory: resolveAuthSettings, inject: [AUTH_MODULE_OPTIONS] },
      ...providers,
      { provide: RLS_INTERCEPTOR_IS_GLOBAL, useValue: extras.registerRlsInterceptor },
      ...(extras.registerGlobalGuard ? [{ provide: APP_GUARD, useExisting: JwtAuthGuard }] : []),
      ...(extras.registerRlsInterceptor ? [{ provide: APP_INTERCEPTOR, useExisting: RlsInterceptor }] : []),
      ...(extras.registerExceptionFilter ? [{ provide: APP_FILTER, useClass: AppExceptionFilter }] : []),
    ],
    exports: exported,
  };
}

