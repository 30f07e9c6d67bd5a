import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { AuthModuleOptions } from '../core/settings';
import { AUTH_MODULE_OPTIONS, authModuleParts } from './auth.providers';

/** Decided when the module is imported (not by the options factory): they change which providers exist. */
export interface AuthModuleExtras {
  /** Use the host's `MikroOrmModule.forRoot` instead of the module's own (default false: `database` option). */
  useHostOrm: boolean;
  /** Mount the module's routes under this path (e.g. 'api' → /api/auth/login, /api/sessions). */
  routePrefix?: string;
  /** Register the bearer guard for every route of the host app (default true; `@Public()` opts out). */
  registerGlobalGuard: boolean;
  /** Run every route of the host app in an RLS transaction as the caller (default true). */
  registerRlsInterceptor: boolean;
  /**
   * Register `AppExceptionFilter` for the whole app (default true), so host routes answer errors like
   * the module's own: `{statusCode, message, error}`, database errors mapped (RLS violation → 403,
   * lost database → 503), no parser or driver text. Set false when the app has a global filter of its
   * own (it may extend or call `AppExceptionFilter`).
   */
  registerExceptionFilter: boolean;
}

export const {
  ConfigurableModuleClass: AuthConfigurableModule,
  OPTIONS_TYPE: AUTH_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: AUTH_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<AuthModuleOptions>({ moduleName: 'Auth', optionsInjectionToken: AUTH_MODULE_OPTIONS })
  .setClassMethodName('forRoot')
  .setExtras<AuthModuleExtras>(
    { useHostOrm: false, routePrefix: undefined, registerGlobalGuard: true, registerRlsInterceptor: true, registerExceptionFilter: true },
    (definition, extras) => authModuleParts(definition, extras),
  )
  .build();
