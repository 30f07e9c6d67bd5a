import { ConfigurableModuleBuilder } from '@nestjs/common';
import { AuthModuleOptions } from './auth-settings';

export interface AuthModuleExtras {
  /** Use the host's `MikroOrmModule.forRoot` instead of the module's own (default false: `database` option). */
  useHostOrm: boolean;
  /** Mount the module's routes under this path (e.g. 'api' → /api/auth/login, /api/sessions). */
  routePrefix?: string;
  /**
   * Register `AppExceptionFilter` for the whole app (default true), so host routes answer errors like
   * the module's own: `{statusCode, message, error}`, database errors mapped (RLS violation → 403,
   * lost database → 503), no parser or driver text. Set false when the app has a global filter of its
   * own (it may extend or call `AppExceptionFilter`). An extra, not a factory option: the filter is
   * registered, or not, when the module is composed.
   */
  registerExceptionFilter?: boolean;
}

export const {
  ConfigurableModuleClass: AuthConfigurableModule,
  MODULE_OPTIONS_TOKEN: AUTH_MODULE_OPTIONS,
  OPTIONS_TYPE: AUTH_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: AUTH_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<AuthModuleOptions>({ moduleName: 'Auth' })
  .setClassMethodName('forRoot')
  .setExtras<AuthModuleExtras>({ useHostOrm: false, routePrefix: undefined, registerExceptionFilter: true }, (definition) => ({ ...definition, global: true }))
  .build();
