import { ConfigurableModuleBuilder } from '@nestjs/common';
import { AuthModuleOptions } from './auth-settings';

export interface AuthModuleExtras {
  /** Use the host's `MikroOrmModule.forRoot` instead of the module's own (default false: `database` option). */
  useHostOrm: boolean;
  /** Mount the module's routes under this path (e.g. 'api' → /api/auth/login, /api/sessions). */
  routePrefix?: string;
}

export const {
  ConfigurableModuleClass: AuthConfigurableModule,
  MODULE_OPTIONS_TOKEN: AUTH_MODULE_OPTIONS,
  OPTIONS_TYPE: AUTH_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: AUTH_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<AuthModuleOptions>({ moduleName: 'Auth' })
  .setClassMethodName('forRoot')
  .setExtras<AuthModuleExtras>({ useHostOrm: false, routePrefix: undefined }, (definition) => ({ ...definition, global: true }))
  .build();
