/**
 * AuthModule inside a host application that is not this service: the host has its own config
 * provider, its own controllers and its own Nest setup (no `AppModule`, no `configureApp`), and
 * imports everything from the package's public entry point — so these tests also prove that the
 * public API is enough to build a host app.
 */
import {
  Body,
  Controller,
  ExecutionContext,
  ForbiddenException,
  Get,
  Injectable,
  INestApplication,
  MessageEvent,
  Module,
  ModuleMetadata,
  Post,
  Req,
  Sse,
  UnauthorizedException,
  UseGuards,
} from '@nestjs/common';
import { APP_GUARD, Reflector } from '@nestjs/core';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host';
import { interval, map, Observable, take } from 'rxjs';
import { Test } from '@nestjs/testing';
import { MikroOrmModule } from '@mikro-orm/nestjs';
import { EntityManager, PostgreSqlDriver } from '@mikro-orm/postgresql';
import request from 'supertest';
import TestAgent from 'supertest/lib/agent';
import {
  AccessTokenKeys,
  AppException,
  AUTH_ENTITIES,
  AuthModule,
  AuthModuleExtras,
  AuthModuleOptions,
  AuthPrincipal,
  AuthService,
  CurrentSession,
  CurrentUser,
  JwtAuthGuard,
  Public,
  Session,
  SessionsService,
  TokensDto,
  WithoutRlsTransaction,
} from '../src';
import { PrincipalCheck } from '../src/core/principal';
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
  constructor(
    private readonly em: EntityManager,
    private readonly auth: AuthService,
    private readonly sessions: SessionsService,
  ) {}

  /** A route that asked to run outside the request transaction: the session check still applies. */
  @WithoutRlsTransaction()
  @Get('no-transaction')
  noTransaction(@Req() req: { user?: AuthPrincipal }): { userId?: string } {
    return { userId: req.user?.userId };
  }

  /** Server-sent events: streamed, not collapsed into one value, and never inside a held transaction. */
  @Sse('events')
  events(@Req() req: { user?: AuthPrincipal }): Observable<MessageEvent> {
    return interval(20).pipe(
      take(3),
      map((i) => ({ data: { n: i, userId: req.user?.userId } })),
    );
  }

  /**
   * An "invite a user" route: calls the library's services for another user inside the caller's
   * request transaction, then goes on as the caller.
   */
  @Post('invite')
  async invite(@CurrentUser() me: AuthPrincipal, @Body() body: { email: string; password: string }): Promise<{ invitedSession: string; visible: string[]; renamed: string | null }> {
    await this.auth.register({ email: body.email, password: body.password });
    const invited = await this.auth.login({ email: body.email, password: body.password }, { userAgent: null, ipAddress: null, deviceName: 'invited', deviceType: 'unknown' });
    return { invitedSession: invited.sessionId, ...(await this.asCaller(me)) };
  }

  /** Calls a library service whose work for another user fails (throws) inside the caller's transaction. */
  @Post('failed-rotation')
  async failedRotation(@CurrentUser() me: AuthPrincipal, @Body() body: { refreshToken: string }): Promise<{ error: string; visible: string[]; renamed: string | null }> {
    const error = await this.sessions.rotate(body.refreshToken).then(
      () => 'none',
      (err: unknown) => (err instanceof AppException ? err.code : 'unexpected'),
    );
    return { error, ...(await this.asCaller(me)) };
  }

  /** What the rest of the request sees and writes: it must still run as the caller. */
  private async asCaller(me: AuthPrincipal): Promise<{ visible: string[]; renamed: string | null }> {
    const visible = (await this.em.find(Session, {}, { orderBy: { createdAt: 'asc' } })).map((s) => s.id);
    const renamed = await this.sessions.rename(me.sessionId, 'renamed after the call', me.sessionId);
    return { visible, renamed: renamed.deviceName };
  }

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

/** A host subclass that answers its own 401 (`handleRequest`, the AuthGuard extension point). */
class SignInHintGuard extends JwtAuthGuard {
  override handleRequest<T>(err: unknown, user: T): T {
    if (err || !user) throw new UnauthorizedException('Sign in at /login first');
    return user;
  }
}

/** Host routes for an app that turned the module's global guard off. */
@Controller('host')
class OptInGuardController {
  @UseGuards(SignInHintGuard)
  @Get('hinted')
  hinted(@CurrentUser() user: AuthPrincipal): AuthPrincipal {
    return user;
  }

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

    it('refuses a revoked session on a @WithoutRlsTransaction() host route too', async () => {
      const user = await host.signUp();
      await host.http.get('/host/no-transaction').set(...auth(user.tokens)).expect(200, { userId: user.userId });
      await host.http.post('/auth/logout').set(...auth(user.tokens)).expect(204);
      await host.http.get('/host/no-transaction').set(...auth(user.tokens)).expect(401);
    });

    it('refuses a deactivated account on host routes at once, with or without the request transaction', async () => {
      const user = await host.signUp();
      await host.http.get('/host/whoami').set(...auth(user.tokens)).expect(200);
      await db.asOwner((c) => c.query('update users set is_active = false where id = $1', [user.userId]));
      await host.http.get('/host/whoami').set(...auth(user.tokens)).expect(401);
      await host.http.get('/host/no-transaction').set(...auth(user.tokens)).expect(401);
    });

    it('streams a server-sent-events route event by event, and refuses it once the session is revoked', async () => {
      const user = await host.signUp();
      const res = await host.http.get('/host/events').set(...auth(user.tokens)).buffer(true).parse((r, done) => {
        let text = '';
        r.on('data', (c: Buffer) => (text += c.toString()));
        r.on('end', () => done(null, text));
      });
      expect(res.status).toBe(200);
      const events = (res.body as string).split('\n').filter((l) => l.startsWith('data:')).map((l) => JSON.parse(l.slice(5)));
      expect(events).toEqual([0, 1, 2].map((n) => ({ n, userId: user.userId })));

      await host.http.post('/auth/logout').set(...auth(user.tokens)).expect(204);
      await host.http.get('/host/events').set(...auth(user.tokens)).expect(401);
    });

    it('checks the session outside HTTP too (a non-HTTP execution context gets the check from the guard, not the interceptor)', async () => {
      const user = await host.signUp();
      const check = host.app.get(PrincipalCheck);
      const rpc = (): ExecutionContext => {
        const ctx = new ExecutionContextHost([{}, {}], HostController, HostController.prototype.whoami);
        ctx.setType('rpc');
        return ctx;
      };
      const principal = { userId: user.userId, sessionId: user.tokens.sessionId };
      await expect(check.afterAuthentication(rpc(), principal)).resolves.toBeUndefined();
      await host.http.post('/auth/logout').set(...auth(user.tokens)).expect(204);
      await expect(check.afterAuthentication(rpc(), principal)).rejects.toMatchObject({ status: 401 });
    });

    it('puts the caller’s identity back after a host route calls the library for another user (register + login): reads and writes stay the caller’s', async () => {
      const inviter = await host.signUp();
      const inviterPhone = await host.login(inviter);
      const email = uniqueEmail('invited');
      const res = await host.http.post('/host/invite').set(...auth(inviter.tokens)).send({ email, password: 'invited-password-1' }).expect(201);
      expect(res.body.visible.sort()).toEqual([inviter.tokens.sessionId, inviterPhone.sessionId].sort());
      expect(res.body.renamed).toBe('renamed after the call');
      const rows = await db.asOwner(async (c) => (await c.query('select id, user_id, device_name from sessions where id = any($1::uuid[])', [[inviter.tokens.sessionId, res.body.invitedSession]])).rows);
      expect(rows).toContainEqual({ id: inviter.tokens.sessionId, user_id: inviter.userId, device_name: 'renamed after the call' });
      expect(rows).toContainEqual(expect.objectContaining({ id: res.body.invitedSession, device_name: 'invited' }));
      expect(rows.find((r) => r.id === res.body.invitedSession)!.user_id).not.toBe(inviter.userId);
    });

    it('puts the caller’s identity back when the library call for another user throws', async () => {
      const caller = await host.signUp();
      const other = await host.signUp();
      await host.http.post('/auth/logout').set(...auth(other.tokens)).expect(204);
      const res = await host.http.post('/host/failed-rotation').set(...auth(caller.tokens)).send({ refreshToken: other.tokens.refreshToken }).expect(201);
      expect(res.body).toEqual({ error: 'INVALID_REFRESH_TOKEN', visible: [caller.tokens.sessionId], renamed: 'renamed after the call' });
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
        extras: { routePrefix: 'api', registerGlobalGuard: false },
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

    it("answers through a host subclass's handleRequest: its own 401 without a token or with a bad one, the principal with a good one", async () => {
      const user = await host.signUp();
      const hint = { statusCode: 401, message: 'Sign in at /login first', error: 'Unauthorized' };
      await host.http.get('/host/hinted').expect(401, hint);
      await host.http.get('/host/hinted').set('Authorization', `Bearer ${user.tokens.accessToken}x`).expect(401, hint);
      await host.http.get('/host/hinted').set('Authorization', 'Bearer not-a-token').expect(401, hint);
      await host.http.get('/host/hinted').set(...auth(user.tokens)).expect(200, { userId: user.userId, sessionId: user.tokens.sessionId });
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

  describe('with registerGlobalGuard: false and registerRlsInterceptor: false (the README’s opt-out) and @UseGuards(JwtAuthGuard)', () => {
    let host: Host;
    beforeAll(async () => {
      host = await startHost({
        db,
        extras: { registerGlobalGuard: false, registerRlsInterceptor: false },
        controllers: [OptInGuardController],
      });
    });
    afterAll(() => host.app.close());

    it('refuses the guarded host route once the session is logged out: the guard checks it when no interceptor will', async () => {
      const user = await host.signUp();
      await host.http.get('/host/guarded').set(...auth(user.tokens)).expect(200);
      await host.http.post('/auth/logout').set(...auth(user.tokens)).expect(204);
      await host.http.get('/auth/me').set(...auth(user.tokens)).expect(401);
      await host.http.get('/host/guarded').set(...auth(user.tokens)).expect(401);
    });

    it('refuses it for a deactivated account, and for a session revoked from another device', async () => {
      const user = await host.signUp();
      const laptop = await host.login(user);
      await host.http.delete(`/sessions/${user.tokens.sessionId}`).set(...auth(laptop)).expect(204);
      await host.http.get('/host/guarded').set(...auth(user.tokens)).expect(401);
      await host.http.get('/host/guarded').set(...auth(laptop)).expect(200);
      await db.asOwner((c) => c.query('update users set is_active = false where id = $1', [user.userId]));
      await host.http.get('/host/guarded').set(...auth(laptop)).expect(401);
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
        extras: { registerGlobalGuard: false },
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
