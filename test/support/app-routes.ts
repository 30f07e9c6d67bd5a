import { INestApplication, RequestMethod } from '@nestjs/common';
import { GUARDS_METADATA, METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { DiscoveryService, MetadataScanner, ModulesContainer, Reflector } from '@nestjs/core';
import { RefreshCookieCsrfGuard } from '../../src/auth/csrf.guard';
import { IS_PUBLIC } from '../../src/core/decorators';

export interface AppRoute {
  /** `GET /sessions/:id` */
  key: string;
  /** `GET`, `POST`, … */
  method: string;
  /** As Nest's router matches it: `/sessions/:id`. */
  path: string;
  isPublic: boolean;
  /** The route runs the CSRF guard: the refresh-token cookie can authenticate it. */
  acceptsRefreshCookie: boolean;
}

/** `/auth/`, `login` → `/auth/login`; no trailing slash. */
function joinPath(...parts: string[]): string {
  const joined = ('/' + parts.filter(Boolean).join('/')).replace(/\/+/g, '/');
  return joined.length > 1 ? joined.replace(/\/$/, '') : joined;
}

const asList = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : [v === undefined ? '' : String(v)]);

/** `/sessions/:id` → `/sessions/{id}` (OpenAPI's spelling). */
export const openApiPath = (path: string): string => path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

/**
 * Every route of every controller in the running app, from Nest's route metadata (not from the
 * OpenAPI document, which is what some tests check against it), sorted by key.
 */
export function appRoutes(app: INestApplication): AppRoute[] {
  const discovery = new DiscoveryService(app.get(ModulesContainer));
  const scanner = new MetadataScanner();
  const reflector = app.get(Reflector);
  // NestApplication keeps the global prefix on its (internal) ApplicationConfig; @nestjs/swagger reads it the same way.
  const globalPrefix = (app as unknown as { config?: { getGlobalPrefix(): string } }).config?.getGlobalPrefix() ?? '';
  const routes = new Map<string, AppRoute>();
  for (const wrapper of discovery.getControllers()) {
    const controller = wrapper.metatype as (new (...args: never[]) => unknown) | undefined;
    if (!controller?.prototype) continue;
    const prototype = controller.prototype as Record<string, (...args: unknown[]) => unknown>;
    for (const prefix of asList(Reflect.getMetadata(PATH_METADATA, controller))) {
      for (const name of scanner.getAllMethodNames(prototype)) {
        const handler = prototype[name];
        const handlerPath: unknown = Reflect.getMetadata(PATH_METADATA, handler);
        if (handlerPath === undefined) continue; // not a route handler
        const method = RequestMethod[Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod];
        const isPublic = reflector.getAllAndOverride<boolean>(IS_PUBLIC, [handler, controller]) === true;
        const acceptsRefreshCookie = reflector.getAllAndMerge<unknown[]>(GUARDS_METADATA, [handler, controller]).includes(RefreshCookieCsrfGuard);
        for (const sub of asList(handlerPath)) {
          const path = joinPath(globalPrefix, prefix, sub);
          const key = `${method} ${path}`;
          routes.set(key, { key, method, path, isPublic, acceptsRefreshCookie });
        }
      }
    }
  }
  return [...routes.values()].sort((a, b) => a.key.localeCompare(b.key));
}
