import { CanActivate, DynamicModule, Module, NestInterceptor } from '@nestjs/common';
import { APP_GUARD, APP_INTERCEPTOR, RouterModule } from '@nestjs/core';
import { JwtModule } from '@nestjs/jwt';
import { PassportModule } from '@nestjs/passport';
import { ThrottlerModule } from '@nestjs/throttler';
import { MikroOrmModule } from '@mikro-orm/nestjs';
import { PostgreSqlDriver } from '@mikro-orm/postgresql';
import { Clock } from '../database/clock';
import { runtimeOrmOptions } from '../database/orm-options';
import { RlsContext } from '../database/rls.context';
import { RuntimeRoleCheck } from '../database/runtime-role.check';
import { PrincipalCheck, RLS_INTERCEPTOR_IS_GLOBAL, RlsInterceptor, RlsPrincipalCheck, TokenOnlyPrincipalCheck } from '../database/rls.interceptor';
import { SessionsModule } from '../sessions/sessions.module';
import { UsersModule } from '../users/users.module';
import { AccessTokenKeys, LocalAccessTokenKeys } from './access-token-keys';
import { AccessTokenService } from './access-token.service';
import { AuthController } from './auth.controller';
import { AUTH_ASYNC_OPTIONS_TYPE, AUTH_MODULE_OPTIONS, AUTH_OPTIONS_TYPE, AuthConfigurableModule, AuthModuleExtras } from './auth.module-definition';
import { AuthService } from './auth.service';
import { AuthModuleOptions, AuthSettings, resolveAuthSettings } from './auth-settings';
import { JwksController } from './jwks.controller';
import { JwtAuthGuard } from './jwt-auth.guard';
import { JwtStrategy } from './jwt.strategy';
import { LoginFailureLimiter } from './login-failures';
import { AuthRateLimitGuard, rateLimitOptions } from './rate-limit';
import { RefreshCookieCsrfGuard } from './csrf.guard';
import { RefreshCookies } from './refresh-cookie';
import { BearerOrRefreshCookieGuard } from './refresh-cookie-auth.guard';
import { RemoteJwksKeys, ResourceServerOptions } from './remote-jwks';

const ALLOW_ALL: CanActivate = { canActivate: () => true };
const PASS_THROUGH: NestInterceptor = { intercept: (_context, next) => next.handle() };

/**
 * Sign-in, refresh-token rotation, device sessions and the RLS request context, for the standalone
 * service and for host apps:
 *
 *   AuthModule.forRootAsync({ imports: [ConfigModule], inject: [ConfigService], useFactory: (c) => ({...}) })
 *
 * Global (its guard, RlsContext and services are injectable anywhere). Routes: /auth/*, /sessions/*,
 * /.well-known/jwks.json, optionally under `routePrefix`. See `AuthModuleOptions` for the options;
 * omitted ones take the standalone service's defaults.
 */
@Module({})
export class AuthModule extends AuthConfigurableModule {
  static override forRoot(options: typeof AUTH_OPTIONS_TYPE): DynamicModule {
    return compose(super.forRoot(options), options);
  }

  static override forRootAsync(options: typeof AUTH_ASYNC_OPTIONS_TYPE): DynamicModule {
    return compose(super.forRootAsync(options), options);
  }

  /**
   * Verify-only mode for another service: the bearer guard and the decorators, with tokens checked
   * against the issuer's JWKS (cached; fetched again for an unknown `kid`). No database: the session
   * check of the issuing service does not apply, so a revoked session's access token stays valid
   * here until it expires (ACCESS_TOKEN_TTL, 15 minutes by default).
   */
  static forResourceServer(options: ResourceServerOptions): DynamicModule {
    return {
      module: ResourceServerModule,
      global: true,
      imports: [PassportModule],
      providers: [
        { provide: AccessTokenKeys, useValue: new RemoteJwksKeys(options) },
        // No session store here: a token is honoured until it expires (see above).
        { provide: PrincipalCheck, useClass: TokenOnlyPrincipalCheck },
        JwtStrategy,
        JwtAuthGuard,
        ...(options.registerGlobalGuard === false ? [] : [{ provide: APP_GUARD, useExisting: JwtAuthGuard }]),
      ],
      exports: [AccessTokenKeys, PrincipalCheck, JwtAuthGuard],
    };
  }
}

@Module({})
export class ResourceServerModule {}

function compose(base: DynamicModule, extras: Partial<AuthModuleExtras>): DynamicModule {
  const orm = extras.useHostOrm
    ? []
    : [
        MikroOrmModule.forRootAsync({
          driver: PostgreSqlDriver,
          inject: [AuthSettings],
          useFactory: (settings: AuthSettings) => {
            if (!settings.database) throw new Error('AuthModule needs the `database` option, or `useHostOrm: true` with your own MikroOrmModule.forRoot');
            // No per-request RequestContext fork: every query of the module runs in an RLS transaction
            // with a fork of its own (RlsContext), so the middleware's fork was work thrown away.
            return { ...runtimeOrmOptions(settings.database), registerRequestContext: false };
          },
        }),
      ];
  const routes = extras.routePrefix
    ? [RouterModule.register([{ path: extras.routePrefix, module: AuthModule, children: [SessionsModule] }])]
    : [];
  return {
    ...base,
    global: true,
    imports: [
      ...(base.imports ?? []),
      ...orm,
      PassportModule,
      JwtModule.register({}),
      ThrottlerModule.forRootAsync({ inject: [AuthSettings], useFactory: rateLimitOptions }),
      UsersModule,
      SessionsModule,
      ...routes,
    ],
    controllers: [AuthController, JwksController],
    providers: [
      ...(base.providers ?? []),
      { provide: AuthSettings, useFactory: resolveAuthSettings, inject: [AUTH_MODULE_OPTIONS] },
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
      { provide: RLS_INTERCEPTOR_IS_GLOBAL, useFactory: (options: AuthModuleOptions) => options.registerRlsInterceptor !== false, inject: [AUTH_MODULE_OPTIONS] },
      { provide: PrincipalCheck, useClass: RlsPrincipalCheck },
      {
        provide: APP_GUARD,
        useFactory: (options: AuthModuleOptions, guard: JwtAuthGuard) => (options.registerGlobalGuard === false ? ALLOW_ALL : guard),
        inject: [AUTH_MODULE_OPTIONS, JwtAuthGuard],
      },
      {
        provide: APP_INTERCEPTOR,
        useFactory: (options: AuthModuleOptions, interceptor: RlsInterceptor) =>
          options.registerRlsInterceptor === false ? PASS_THROUGH : interceptor,
        inject: [AUTH_MODULE_OPTIONS, RlsInterceptor],
      },
    ],
    exports: [
      AUTH_MODULE_OPTIONS,
      AuthSettings,
      Clock,
      RlsContext,
      AccessTokenKeys,
      LocalAccessTokenKeys,
      AuthService,
      AccessTokenService,
      JwtAuthGuard,
      PrincipalCheck,
      RlsInterceptor,
      UsersModule,
      SessionsModule,
    ],
  };
}
