/**
 * AuthModule inside a host application that is not this service: the host has its own config
 * provider, its own controllers and its own Nest setup (no `AppModule`, no `configureApp`), and
 * imports everything from the package's public entry point — so these tests also prove that the
 * public API is enough to build a host app.
 */
import { Controller, ExecutionContext, ForbiddenException, Get, Injectable, INestApplication, Module, ModuleMetadata, Req, UseGuards } from '@nestjs/common';
import { APP_GUARD, Reflector } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import { MikroOrmModule } from '@mikro-orm/nestjs';
import { EntityManager, PostgreSqlDriver } from '@mikro-orm/postgresql';
import request from 'supertest';
import TestAgent from 'supertest/lib/agent';
import {
  AccessTokenKeys,
  AUTH_ENTITIES,
  AuthModule,
  AuthModuleExtras,
  AuthModuleOptions,
  AuthPrincipal,
  CurrentSession,
  CurrentUser,
  JwtAuthGuard,
  Public,
  Session,
  TokensDto,
} from '../src';
import { uniqueEmail } from './support/factories';
import { createTestDatabase, TestDatabase } from './support/test-database';

/** The host's own configuration object (stands in for @nestjs/config's ConfigService). */
class HostConfig {
  constructor(
    readonly runtimeUrl: string | undefined,
    readonly accessSecret = 'host-access-secret-0123456789abcdef0123456789',
    readonly refreshSecret = 'host-refresh-secret-0123456789abcdef012345678',
  ) {}
}

/** Users the host refuses on some routes, checked by its JwtAuthGuard subclass. */
@Injectable()
class HostBanList {
  readonly userIds = new Set<string>();
}

/** A host's own bearer guard: the module's verification, plus a check of its own after it. */
@Injectable()
class NotBannedGuard extends JwtAuthGuard {
  constructor(
    reflector: Reflector,
    keys: AccessTokenKeys,
    private readonly bans: HostBanList,
  ) {
    super(reflector, keys);
  }

  protected override async onAuthenticated(context: ExecutionContext): Promise<void> {
    const { user } = context.switchToHttp().getRequest<{ user: AuthPrincipal }>();
    if (this.bans.userIds.has(user.userId)) throw new ForbiddenException('Banned from this host');
  }
}

/** Host routes for an app with the module's global guard. */
@Controller('host')
class HostController {
  constructor(private readonly em: EntityManager) {}

  @Get('whoami')
  whoami(@CurrentUser() user: AuthPrincipal, @CurrentSession() sessionId: string): { user: AuthPrincipal; sessionId: string } {
    return { user, sessionId };
  }

  @Public()
  @Get('ping')
  ping(): { pong: true } {
    return { pong: true };
  }

  @UseGuards(NotBannedGuard)
  @Get('members-only')
  membersOnly(@CurrentUser() user: AuthPrincipal): { userId: string } {
    return { userId: user.userId };
  }

  /** Reads the sessions table through the injected EntityManager: inside the request's RLS transaction. */
  @Get('visible-sessions')
  async visibleSessions(): Promise<{ ids: string[] }> {
    const rows = await this.em.find(Session, {}, { orderBy: { createdAt: 'asc' } });
    return { ids: rows.map((s) => s.id) };
  }
}

/** Host routes for an app that turned the module's global guard off. */
@Controller('host')
class OptInGuardController {
  @Get('open')
  open(@Req() req: { user?: AuthPrincipal }): { authenticated: boolean } {
    return { authenticated: req.user !== undefined };
  }

  @UseGuards(JwtAuthGuard)
  @Get('guarded')
  guarded(@CurrentUser() user: AuthPrincipal, @CurrentSession() sessionId: string): { user: AuthPrincipal; sessionId: string } {
    return { user, sessionId };
  }
}

const GENEROUS_RATE_LIMITS = { loginPerIp: 10_000, loginPerAccount: 10_000, registerPerIp: 10_000, refreshPerIp: 10_000 };

interface Host {
  app: INestApplication;
  http: TestAgent;
  /** Registers a user and signs in, through the module's routes (under `prefix`). */
  signUp(): Promise<{ userId: string; email: string; password: string; tokens: TokensDto }>;
  login(user: { email: string; password: string }): Promise<TokensDto>;
}

/**
 * A host app: its own config module, `AuthModule.forRootAsync` reading from it, its controllers.
 * Built with the testing module and started on a loopback port like any Nest app.
 */
async function startHost(options: {
  db: TestDatabase;
  extras?: Partial<AuthModuleExtras>;
  authOptions?: Partial<AuthModuleOptions>;
  imports?: ModuleMetadata['imports'];
  controllers: ModuleMetadata['controllers'];
  providers?: ModuleMetadata['providers'];
  prefix?: string;
}): Promise<Host> {
  const runtimeUrl = options.extras?.useHostOrm ? undefined : options.db.runtimeUrl;

  @Module({ providers: [{ provide: HostConfig, useValue: new HostConfig(runtimeUrl) }], exports: [HostConfig] })
  class HostConfigModule {}

  @Module({
    imports: [
      ...(options.imports ?? []),
      AuthModule.forRootAsync({
        ...options.extras,
        imports: [HostConfigModule],
        inject: [HostConfig],
        useFactory: (config: HostConfig): AuthModuleOptions => ({
          accessToken: { secret: config.accessSecret },
          refreshToken: { secret: config.refreshSecret },
          bcryptCost: 4,
          ...(config.runtimeUrl ? { database: { url: config.runtimeUrl } } : {}),
          rateLimit: GENEROUS_RATE_LIMITS,
          ...options.authOptions,
        }),
      }),
    ],
    controllers: options.controllers,
    providers: [HostBanList, ...(options.providers ?? [])],
  })
  class HostAppModule {}

  const moduleRef = await Test.createTestingModule({ imports: [HostAppModule] }).compile();
  const app = moduleRef.createNestApplication({ logger: ['error'] });
  await app.listen(0, '127.0.0.1');
  const http = request(app.getHttpServer());
  const base = options.prefix ? `/${options.prefix}` : '';
  const login = async (user: { email: string; password: string }): Promise<TokensDto> =>
    (await http.post(`${base}/auth/login`).send({ email: user.email, password: user.password }).expect(200)).body as TokensDto;
  return {
    app,
    http,
    login,
    signUp: async () => {
      const email = uniqueEmail('host');
      const password = 'host-user-password-1';
      const registered = await http.post(`${base}/auth/register`).send({ email, password }).expect(201);
      return { userId: registered.body.id as string, email, password, tokens: await login({ email, password }) };
    },
  };
}

const auth = (tokens: { accessToken: string }): [string, string] => ['Authorization', `Bearer ${tokens.accessToken}`];

describe('a host app importing AuthModule.forRootAsync', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(() => db.drop());

  describe('with its own config provider, the module owning its ORM and the global guard', () => {
    let host: Host;
    beforeAll(async () => {
      host = await startHost({ db, controllers: [HostController] });
    });
    afterAll(() => host.app.close());

    it('signs in through the module routes, and a host route sees the caller through @CurrentUser and @CurrentSession', async () => {
      const alice = await host.signUp();
      const res = await host.http.get('/host/whoami').set(...auth(alice.tokens)).expect(200);
      expect(res.body).toEqual({ user: { userId: alice.userId, sessionId: alice.tokens.sessionId }, sessionId: alice.tokens.sessionId });
    });

    it('answers a @Public() host route without a token, and 401 on a protected host route without one or with a bad one', async () => {
      await host.http.get('/host/ping').expect(200, { pong: true });
      await host.http.get('/host/whoami').expect(401);
      await host.http.get('/host/whoami').set('Authorization', 'Bearer not-a-jwt').expect(401);
    });

    it('refuses a revoked session on host routes at once: DELETE /sessions/:id and logout', async () => {
      const bob = await host.signUp();
      const laptop = await host.login(bob);
      await host.http.get('/host/whoami').set(...auth(bob.tokens)).expect(200);

      await host.http.delete(`/sessions/${bob.tokens.sessionId}`).set(...auth(laptop)).expect(204);
      // The access token itself is still unexpired and correctly signed: the session check of the
      // RLS interceptor, which runs on host routes too, is what refuses it.
      await host.http.get('/host/whoami').set(...auth(bob.tokens)).expect(401);
      const still = await host.http.get('/host/whoami').set(...auth(laptop)).expect(200);
      expect(still.body.sessionId).toBe(laptop.sessionId);

      await host.http.post('/auth/logout').set(...auth(laptop)).expect(204);
      await host.http.get('/host/whoami').set(...auth(laptop)).expect(401);
    });

    it('runs host handlers in the caller’s RLS transaction: the injected EntityManager sees only the caller’s sessions', async () => {
      const carol = await host.signUp();
      const carolPhone = await host.login(carol);
      const dave = await host.signUp();

      const seen = await host.http.get('/host/visible-sessions').set(...auth(carol.tokens)).expect(200);
      expect(seen.body.ids.sort()).toEqual([carol.tokens.sessionId, carolPhone.sessionId].sort());
      const seenByDave = await host.http.get('/host/visible-sessions').set(...auth(dave.tokens)).expect(200);
      expect(seenByDave.body.ids).toEqual([dave.tokens.sessionId]);
    });

    it('runs a host subclass of JwtAuthGuard (onAuthenticated) on its route even though the global guard already authenticated the request', async () => {
      const erin = await host.signUp();
      const frank = await host.signUp();
      host.app.get(HostBanList).userIds.add(frank.userId);

      await host.http.get('/host/members-only').set(...auth(erin.tokens)).expect(200, { userId: erin.userId });
      await host.http.get('/host/members-only').set(...auth(frank.tokens)).expect(403);
      await host.http.get('/host/members-only').expect(401);
      // The ban is the host route's own rule; the module's routes still serve Frank.
      await host.http.get('/auth/me').set(...auth(frank.tokens)).expect(200);
    });
  });

  describe("with routePrefix 'api' and registerGlobalGuard: false", () => {
    let host: Host;
    beforeAll(async () => {
      host = await startHost({
        db,
        extras: { routePrefix: 'api' },
        authOptions: { registerGlobalGuard: false },
        controllers: [OptInGuardController],
        prefix: 'api',
      });
    });
    afterAll(() => host.app.close());

    it('serves the module routes under /api (auth, sessions, JWKS) and not at the root', async () => {
      const user = await host.signUp();
      const sessions = await host.http.get('/api/sessions').set(...auth(user.tokens)).expect(200);
      expect(sessions.body).toEqual([expect.objectContaining({ id: user.tokens.sessionId, current: true })]);
      await host.http.get('/api/auth/me').set(...auth(user.tokens)).expect(200);
      await host.http.get('/api/.well-known/jwks.json').expect(200, { keys: [] });

      await host.http.post('/auth/login').send({ email: user.email, password: user.password }).expect(404);
      await host.http.get('/sessions').set(...auth(user.tokens)).expect(404);
    });

    it('still protects the module’s own routes without the global guard', async () => {
      await host.http.get('/api/sessions').expect(401);
      await host.http.get('/api/auth/me').expect(401);
    });

    it('leaves a host route without a guard open, and does not authenticate it even with a token', async () => {
      const user = await host.signUp();
      await host.http.get('/host/open').expect(200, { authenticated: false });
      await host.http.get('/host/open').set(...auth(user.tokens)).expect(200, { authenticated: false });
    });

    it('protects a host route with @UseGuards(JwtAuthGuard): 401 without a token, 200 with one, 401 once the session is revoked', async () => {
      const user = await host.signUp();
      const other = await host.login(user);
      await host.http.get('/host/guarded').expect(401);
      const res = await host.http.get('/host/guarded').set(...auth(user.tokens)).expect(200);
      expect(res.body).toEqual({ user: { userId: user.userId, sessionId: user.tokens.sessionId }, sessionId: user.tokens.sessionId });

      await host.http.delete(`/api/sessions/${user.tokens.sessionId}`).set(...auth(other)).expect(204);
      await host.http.get('/host/guarded').set(...auth(user.tokens)).expect(401);
      await host.http.get('/host/guarded').set(...auth(other)).expect(200);
    });
  });

  describe('with useHostOrm: true and the host’s own MikroOrmModule.forRoot', () => {
    let host: Host;
    beforeAll(async () => {
      host = await startHost({
        db,
        extras: { useHostOrm: true },
        imports: [
          MikroOrmModule.forRoot({
            driver: PostgreSqlDriver,
            clientUrl: db.runtimeUrl,
            entities: [...AUTH_ENTITIES],
            allowGlobalContext: false,
            forceUtcTimezone: true,
          }),
        ],
        controllers: [HostController],
      });
    });
    afterAll(() => host.app.close());

    it('signs in, serves host routes with the caller filled in, and refuses a revoked session', async () => {
      const user = await host.signUp();
      const res = await host.http.get('/host/whoami').set(...auth(user.tokens)).expect(200);
      expect(res.body).toEqual({ user: { userId: user.userId, sessionId: user.tokens.sessionId }, sessionId: user.tokens.sessionId });

      await host.http.post('/auth/logout').set(...auth(user.tokens)).expect(204);
      await host.http.get('/host/whoami').set(...auth(user.tokens)).expect(401);
    });

    it('shares the host’s ORM: a host query in the request sees only the caller’s rows', async () => {
      const a = await host.signUp();
      const b = await host.signUp();
      const seen = await host.http.get('/host/visible-sessions').set(...auth(a.tokens)).expect(200);
      expect(seen.body.ids).toEqual([a.tokens.sessionId]);
      expect(seen.body.ids).not.toContain(b.tokens.sessionId);
    });
  });

  describe('with registerGlobalGuard: false and the host’s JwtAuthGuard subclass as its global guard', () => {
    let host: Host;
    beforeAll(async () => {
      host = await startHost({
        db,
        authOptions: { registerGlobalGuard: false },
        controllers: [HostController],
        providers: [{ provide: APP_GUARD, useClass: NotBannedGuard }],
      });
    });
    afterAll(() => host.app.close());

    it('authenticates every host route with the subclass, honours @Public(), and applies its onAuthenticated check', async () => {
      const ok = await host.signUp();
      const banned = await host.signUp();
      host.app.get(HostBanList).userIds.add(banned.userId);

      await host.http.get('/host/ping').expect(200);
      await host.http.get('/host/whoami').expect(401);
      const res = await host.http.get('/host/whoami').set(...auth(ok.tokens)).expect(200);
      expect(res.body.user).toEqual({ userId: ok.userId, sessionId: ok.tokens.sessionId });
      await host.http.get('/host/whoami').set(...auth(banned.tokens)).expect(403);
      // A global guard covers the module's routes too.
      await host.http.get('/sessions').set(...auth(banned.tokens)).expect(403);

      await host.http.post('/auth/logout').set(...auth(ok.tokens)).expect(204);
      await host.http.get('/host/whoami').set(...auth(ok.tokens)).expect(401);
    });
  });
});
