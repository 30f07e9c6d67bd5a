import { DynamicModule, Module, ValidationPipe } from '@nestjs/common';
import { APP_FILTER, APP_INTERCEPTOR, APP_PIPE } from '@nestjs/core';
import { AuthModule } from './auth/auth.module';
import { AppExceptionFilter } from './common/app-exception.filter';
import { AppConfig } from './config/app-config';
import { ConfigModule } from './config/config.module';
import { DatabaseModule } from './database/database.module';
import { RlsInterceptor } from './database/rls.interceptor';
import { HealthModule } from './health/health.module';
import { LoggingModule } from './logging/logging.module';
import type { DestinationStream } from 'pino';
import { SessionsModule } from './sessions/sessions.module';
import { UsersModule } from './users/users.module';

export interface AppModuleOptions {
  config: AppConfig;
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
        ConfigModule.forRoot(config),
        LoggingModule.forRoot(config, logStream),
        DatabaseModule.forRoot(config, runtimeUrl),
        UsersModule,
        SessionsModule,
        AuthModule,
        HealthModule,
      ],
      providers: [
        { provide: APP_INTERCEPTOR, useClass: RlsInterceptor },
        { provide: APP_FILTER, useClass: AppExceptionFilter },
        {
          provide: APP_PIPE,
          useValue: new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true, transform: true, stopAtFirstError: false }),
        },
      ],
    };
  }
}
