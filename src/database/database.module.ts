import { DynamicModule, Global, Module } from '@nestjs/common';
import { MikroOrmModule } from '@mikro-orm/nestjs';
import { AppConfig } from '../config/app-config';
import { Clock } from './clock';
import { runtimeOrmOptions } from './orm-options';
import { RlsContext } from './rls.context';

/** MikroORM on the runtime (RLS-bound) connection, the RLS helper and the clock. */
@Global()
@Module({})
export class DatabaseModule {
  static forRoot(config: AppConfig, runtimeUrl: string): DynamicModule {
    return {
      module: DatabaseModule,
      imports: [MikroOrmModule.forRoot(runtimeOrmOptions(config, runtimeUrl))],
      providers: [Clock, RlsContext],
      exports: [Clock, RlsContext],
    };
  }
}
