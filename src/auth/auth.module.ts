import { DynamicModule, Module } from '@nestjs/common';
import { AuthConfigurableModule } from './auth.module-definition';
import { ResourceServerModule } from './resource-server.module';
import type { ResourceServerOptions } from './remote-jwks';

/**
 * Sign-in, refresh-token rotation, device sessions and the RLS request context, for the standalone
 * service and for host apps:
 *
 *   AuthModule.forRootAsync({ imports: [ConfigModule], inject: [ConfigService], useFactory: (c) => ({...}) })
 *
 * Global (its guard, RlsContext and services are injectable anywhere). Routes: /auth/*, /sessions/*,
 * /admin/*, /.well-known/jwks.json, optionally under `routePrefix`. Options: `AuthModuleOptions` (omitted ones
 * take `AUTH_DEFAULTS`) and, beside them, `AuthModuleExtras`. What it is made of: `auth.providers.ts`.
 */
@Module({})
export class AuthModule extends AuthConfigurableModule {
  /** The same as `ResourceServerModule.forRoot` (from `nest-rls-auth/resource-server`, which loads no database packages). */
  static forResourceServer(options: ResourceServerOptions): DynamicModule {
    return ResourceServerModule.forRoot(options);
  }
}
