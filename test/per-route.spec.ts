import { Controller, ExecutionContext, Get, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { PerRoute, StaticMetadataReflector } from '../src/core/per-route';

/** `PerRoute` caches what guards and interceptors read from a route's metadata. */
const FLAG = 'test:flag';

class BaseController {
  @Get('shared')
  shared(): string {
    return 'shared';
  }

  @Get('marked')
  @SetMetadata(FLAG, 'handler')
  marked(): string {
    return 'marked';
  }
}

@Controller('a')
@SetMetadata(FLAG, 'class a')
class AController extends BaseController {}

@Controller('b')
class BController extends BaseController {}

const contextOf = (cls: new () => BaseController, name: keyof BaseController): ExecutionContext =>
  ({ getHandler: () => cls.prototype[name], getClass: () => cls }) as unknown as ExecutionContext;

describe('PerRoute', () => {
  const reflector = new Reflector();
  let computed = 0;
  const flag = new PerRoute<string | undefined>((handler, cls) => {
    computed++;
    return reflector.getAllAndOverride<string>(FLAG, [handler, cls]);
  });

  it("answers each route from its own handler's and class's metadata, an inherited handler per class", () => {
    expect(AController.prototype.shared).toBe(BController.prototype.shared);
    expect(flag.get(contextOf(AController, 'shared'))).toBe('class a');
    expect(flag.get(contextOf(BController, 'shared'))).toBeUndefined();
    expect(flag.get(contextOf(AController, 'marked'))).toBe('handler');
    expect(flag.get(contextOf(BController, 'marked'))).toBe('handler');
  });

  it('works a route out once, undefined answers included', () => {
    flag.get(contextOf(AController, 'shared'));
    flag.get(contextOf(BController, 'shared'));
    const before = computed;
    for (let i = 0; i < 3; i++) {
      flag.get(contextOf(AController, 'shared'));
      flag.get(contextOf(BController, 'shared'));
    }
    expect(computed).toBe(before);
  });
});

describe('StaticMetadataReflector', () => {
  const Role = Reflector.createDecorator<string>();

  @Controller('c')
  @SetMetadata(FLAG, 'class c')
  @Role('class role')
  class CController extends BaseController {
    @Get('own')
    @Role('handler role')
    own(): string {
      return 'own';
    }
  }

  it("gives Reflector's answers for keys and decorators, on handlers, classes and inherited handlers", () => {
    const stock = new Reflector();
    const cached = new StaticMetadataReflector();
    const targets = [
      [AController.prototype.shared, AController],
      [BController.prototype.shared, BController],
      [AController.prototype.marked, AController],
      [CController.prototype.own, CController],
      [CController.prototype.shared, CController],
    ] as const;
    for (const t of targets) {
      for (const key of [FLAG, 'test:absent']) {
        expect(cached.getAllAndOverride(key, [...t])).toBe(stock.getAllAndOverride(key, [...t]));
        expect(cached.getAllAndMerge(key, [...t])).toEqual(stock.getAllAndMerge(key, [...t]));
      }
      expect(cached.getAllAndOverride(Role, [...t])).toBe(stock.getAllAndOverride(Role, [...t]));
    }
    expect(cached.getAllAndOverride(Role, [CController.prototype.own, CController])).toBe('handler role');
    expect(cached.getAllAndOverride(FLAG, [CController.prototype.own, CController])).toBe('class c');
  });

  it('reads each (target, key) from the metadata once, undefined answers included', () => {
    const cached = new StaticMetadataReflector();
    const spy = jest.spyOn(Reflect, 'getMetadata');
    try {
      for (let i = 0; i < 3; i++) {
        cached.getAllAndOverride(FLAG, [BController.prototype.shared, BController]);
        cached.get(Role, CController);
      }
      // shared: handler, then class (both undefined); Role on CController's class.
      expect(spy).toHaveBeenCalledTimes(3);
    } finally {
      spy.mockRestore();
    }
  });
});
