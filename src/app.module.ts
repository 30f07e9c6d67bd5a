import { DynamicModule, Module } from '@nestjs/common';
import { AuthModule } from './auth/auth.module';
import type { ServiceConfig } from './config/service-config';
import { HealthModule } from './health/health.module';
import { LoggingModule } from './logging/logging.module';
import type { DestinationStream } from 'pino';

export interface AppModuleOptions {
  config: ServiceConfig;
  /** Connection URL of the runtime (RLS-bound) role, from `prepareDatabase`. */
  runtimeUrl: string;
  /** Where JSON log lines go (default: stdout). */
  logStream?: DestinationStream;
}

@Module({})
export class AppModule {
  static forRoot({ config, runtimeUrl, logStream }: AppModuleOptions): DynamicModule {
    return {
      module: AppModule,
      imports: [
        LoggingModule.forRoot(config, logStream),
        // The module's controllers carry their own bearer guard and RLS interceptor, and the service's
        // one other route (/health) is public and runs without a transaction: registered globally too,
        // the guard and the interceptor would run a second, do-nothing time on every request.
        AuthModule.forRoot({
          ...config.auth,
          database: { ...config.auth.database, url: runtimeUrl },
          registerGlobalGuard: false,
          registerRlsInterceptor: false,
        }),
        HealthModule,
      ],
    };
  }
}
