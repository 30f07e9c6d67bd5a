import { Controller, ExecutionContext, Get, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { PerRoute } from '../src/core/per-route';

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
