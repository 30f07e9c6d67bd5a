import { INestApplication, RequestMethod } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { DiscoveryService, MetadataScanner, ModulesContainer, Reflector } from '@nestjs/core';
import { IS_PUBLIC } from '../../src/core/decorators';

export interface AppRoute {
  /** `GET /admin/users/{userId}/sessions` */
  key: string;
  method: string;
  /** With `:params` as `{params}`. */
  path: string;
  isPublic: boolean;
}

const asList = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : [v === undefined ? '' : String(v)]);

function joinPath(...parts: string[]): string {
  const joined = ('/' + parts.filter(Boolean).join('/')).replace(/\/+/g, '/');
  const trimmed = joined.length > 1 ? joined.replace(/\/$/, '') : joined;
  return trimmed.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

/**
 * Every route of every controller in the running app, from Nest's own route metadata (as
 * test/openapi.spec.ts finds them), so a check over them covers a route added later too.
 */
export function appRoutes(app: INestApplication): AppRoute[] {
  const discovery = new DiscoveryService(app.get(ModulesContainer));
  const scanner = new MetadataScanner();
  const reflector = app.get(Reflector);
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
        if (handlerPath === undefined) continue;
        const method = RequestMethod[Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod];
        const isPublic = reflector.getAllAndOverride<boolean>(IS_PUBLIC, [handler, controller]) === true;
        for (const sub of asList(handlerPath)) {
          const path = joinPath(globalPrefix, prefix, sub);
          const key = `${method} ${path}`;
          routes.set(key, { key, method, path, isPublic });
        }
      }
    }
  }
  return [...routes.values()].sort((a, b) => a.key.localeCompare(b.key));
}
