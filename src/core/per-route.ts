import type { ExecutionContext } from '@nestjs/common';

type Handler = ReturnType<ExecutionContext['getHandler']>;
type Controller = ReturnType<ExecutionContext['getClass']>;

/**
 * A value worked out once per route (handler and controller class) from their metadata, which the
 * decorators fix when the classes are defined. Nest's `Reflector` walks reflect-metadata's maps on
 * every call, and one request passes through two guards and up to three interceptors that ask the
 * same questions about its route: about a dozen lookups per request, where this is two WeakMap reads.
 * Keyed by handler, then class: a handler inherited by two controllers can carry different class metadata.
 */
export class PerRoute<T> {
  private readonly byHandler = new WeakMap<Handler, WeakMap<Controller, T>>();

  constructor(private readonly compute: (handler: Handler, cls: Controller) => T) {}

  get(context: ExecutionContext): T {
    return this.getFor(context.getHandler(), context.getClass());
  }

  getFor(handler: Handler, cls: Controller): T {
    let byClass = this.byHandler.get(handler);
    if (!byClass) this.byHandler.set(handler, (byClass = new WeakMap()));
    const known = byClass.get(cls);
    if (known !== undefined || byClass.has(cls)) return known as T;
    const value = this.compute(handler, cls);
    byClass.set(cls, value);
    return value;
  }
}
