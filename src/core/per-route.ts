import type { ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';

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

/**
 * Nest's `Reflector`, each answer read once per (target, key) and kept: for a stock class we extend
 * and cannot hand a `PerRoute`, `@nestjs/throttler`'s guard. Per throttler and request it asks the
 * handler and then the class six questions (skip, limit, ttl, block duration, tracker, key
 * generator), each a walk of reflect-metadata's maps: with our two throttlers and `routeOf`, 17
 * lookups on every `POST /auth/refresh`, about 5 µs of it in the bench's CPU profile
 * (`BENCH_ONLY=S2 BENCH_RATE=400 BENCH_CPU_PROF=1`: 55 ms in reflect-metadata over 10,800 refreshes).
 * Same reasoning as `PerRoute`: decorators fix the metadata when the classes are defined.
 */
export class StaticMetadataReflector extends Reflector {
  private readonly answers = new WeakMap<object, Map<unknown, unknown>>();

  // One signature for both of Reflector's overloads of `get` (a key, or a decorator made by
  // `Reflector.createDecorator`); the stock `getAll*` methods call this one.
  override get(keyOrDecorator: unknown, target: Function): any {
    let known = this.answers.get(target);
    if (!known) this.answers.set(target, (known = new Map()));
    if (known.has(keyOrDecorator)) return known.get(keyOrDecorator);
    const value: unknown = super.get(keyOrDecorator, target);
    known.set(keyOrDecorator, value);
    return value;
  }
}
