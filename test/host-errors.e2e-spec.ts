/**
 * Errors and security logs in a host app (not this service: Nest's default body parser and
 * ConsoleLogger, no `configureApp`): host routes answer like the module's own routes, with one
 * `{statusCode, message, error}` shape, database errors mapped (an RLS violation is 403, not 500),
 * clean 400s for malformed JSON, and security events on one line of the host's logger.
 */
import { Body, Controller, Get, INestApplication, Module, Param, ParseUUIDPipe, Post } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { EntityManager } from '@mikro-orm/postgresql';
import request from 'supertest';
import TestAgent from 'supertest/lib/agent';
import { AuthModule, AuthModuleExtras, CurrentUser } from '../src';
import type { AuthPrincipal } from '../src';
import { uniqueEmail } from './support/factories';
import { createTestDatabase, TestDatabase } from './support/test-database';

const INSERT_SESSION = "insert into sessions (user_id, refresh_token_hash, expires_at) values (?, 'host-test-hash', now() + interval '1 day')";
const COUNT_SESSIONS = 'select count(*)::int as n from sessions';

@Controller('host')
class HostController {
  constructor(private readonly em: EntityManager) {}

  @Get('whoami')
  whoami(@CurrentUser() me: AuthPrincipal): AuthPrincipal {
    return me;
  }

  /** Writes a sessions row for `userId` in the request's transaction: RLS refuses any user but the caller. */
  @Post('sessions-for/:userId')
  async sessionFor(@Param('userId', ParseUUIDPipe) userId: string): Promise<{ ok: true }> {
    await this.em.execute(INSERT_SESSION, [userId]);
    return { ok: true };
  }

  /** The same write through `em.getConnection().execute`: outside the request's transaction, as nobody. */
  @Post('sessions-for/:userId/outside')
  async sessionForOutside(@Param('userId', ParseUUIDPipe) userId: string): Promise<{ ok: true }> {
    await this.em.getConnection().execute(INSERT_SESSION, [userId]);
    return { ok: true };
  }

  /** What the caller's rows look like through each entity-manager call. */
  @Get('visible')
  async visible(): Promise<{ emExecute: number; connectionExecute: number; forkExecute: number }> {
    const [inside] = await this.em.execute<{ n: number }[]>(COUNT_SESSIONS);
    const [outside] = await this.em.getConnection().execute<{ n: number }[]>(COUNT_SESSIONS);
    const [forked] = await this.em.fork().execute<{ n: number }[]>(COUNT_SESSIONS);
    return { emExecute: inside.n, connectionExecute: outside.n, forkExecute: forked.n };
  }

  @Post('echo')
  echo(@Body() body: unknown): unknown {
    return body;
  }
}

interface Host {
  app: INestApplication;
  http: TestAgent;
  signUp(): Promise<{ userId: string; accessToken: string; sessionId: string; email: string }>;
}

/** A host app with Nest's defaults: its own body parser, its default ConsoleLogger (all levels). */
async function startHost(db: TestDatabase, extras: Partial<AuthModuleExtras> = {}): Promise<Host> {
  @Module({
    imports: [
      AuthModule.forRootAsync({
        ...extras,
        useFactory: () => ({
          accessToken: { secret: 'host-errors-access-secret-0123456789abcdefgh' },
          refreshToken: { secret: 'host-errors-refresh-secret-0123456789abcdefg' },
          database: { url: db.runtimeUrl },
          bcryptCost: 4,
        }),
      }),
    ],
    controllers: [HostController],
  })
  class HostAppModule {}

  // NestFactory, not the testing module: its logger prints errors only, a host's prints every level.
  const app = await NestFactory.create(HostAppModule);
  await app.listen(0, '127.0.0.1');
  const http = request(app.getHttpServer());
  return {
    app,
    http,
    signUp: async () => {
      const email = uniqueEmail('host-errors');
      const password = 'host-errors-password-1';
      const { body: user } = await http.post('/auth/register').send({ email, password }).expect(201);
      const { body: tokens } = await http.post('/auth/login').send({ email, password }).expect(200);
      return { userId: user.id as string, accessToken: tokens.accessToken as string, sessionId: tokens.sessionId as string, email };
    },
  };
}

const bearer = (token: string): [string, string] => ['Authorization', `Bearer ${token}`];
const UNAUTHORIZED = { statusCode: 401, message: 'Unauthorized', error: 'Unauthorized' };

describe('errors and security logs in a host app', () => {
  let db: TestDatabase;
  /** Everything the host's ConsoleLogger (and anything else) writes, kept off the test output. */
  let stdout: string[];
  const spies: jest.SpyInstance[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    stdout = [];
    for (const stream of [process.stdout, process.stderr]) {
      const kept = stream === process.stdout ? stdout : [];
      spies.push(
        jest.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array) => {
          kept.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
          return true;
        }),
      );
    }
  });
  afterAll(async () => {
    for (const spy of spies) spy.mockRestore();
    await db.drop();
  });

  describe('with the module’s defaults (its exception filter registered for the app)', () => {
    let host: Host;
    beforeAll(async () => {
      host = await startHost(db);
    });
    afterAll(() => host.app.close());

    it('answers 401 on a host route with the body of the module’s own routes: no token, a bad token, a revoked session', async () => {
      const user = await host.signUp();
      const moduleRoute = await host.http.get('/sessions').expect(401);
      expect(moduleRoute.body).toEqual(UNAUTHORIZED);

      const noToken = await host.http.get('/host/whoami').expect(401);
      const badToken = await host.http.get('/host/whoami').set(...bearer('not-a-jwt')).expect(401);
      await host.http.get('/host/whoami').set(...bearer(user.accessToken)).expect(200);
      await host.http.post('/auth/logout').set(...bearer(user.accessToken)).expect(204);
      const revoked = await host.http.get('/host/whoami').set(...bearer(user.accessToken)).expect(401);
      for (const res of [noToken, badToken, revoked]) expect(res.body).toEqual(moduleRoute.body);
    });

    it('answers an RLS violation on a host route with 403 in the module’s shape (a write for another user)', async () => {
      const alice = await host.signUp();
      const bob = await host.signUp();
      await host.http.post(`/host/sessions-for/${alice.userId}`).set(...bearer(alice.accessToken)).expect(201, { ok: true });
      const res = await host.http.post(`/host/sessions-for/${bob.userId}`).set(...bearer(alice.accessToken)).expect(403);
      expect(res.body).toEqual({ statusCode: 403, message: 'Forbidden', error: 'Forbidden' });
      const bobs = await db.asOwner((c) => c.query('select 1 from sessions where user_id = $1', [bob.userId]));
      expect(bobs.rowCount).toBe(1); // his login only
    });

    it('runs em.execute in the request’s transaction, and em.getConnection().execute and a plain em.fork() outside it (no user id: no rows, writes refused with 403)', async () => {
      const carol = await host.signUp();
      const seen = await host.http.get('/host/visible').set(...bearer(carol.accessToken)).expect(200);
      expect(seen.body).toEqual({ emExecute: 1, connectionExecute: 0, forkExecute: 0 });
      const res = await host.http.post(`/host/sessions-for/${carol.userId}/outside`).set(...bearer(carol.accessToken)).expect(403);
      expect(res.body).toEqual({ statusCode: 403, message: 'Forbidden', error: 'Forbidden' });
    });

    it('answers malformed JSON with a clean 400 that quotes nothing of the body, on host and module routes alike', async () => {
      const user = await host.signUp();
      for (const path of ['/host/echo', '/auth/login']) {
        const res = await host.http
          .post(path)
          .set(...bearer(user.accessToken))
          .set('Content-Type', 'application/json')
          .send('{"email": "a@b.test", "password": hunter2-secret}');
        expect(res.status).toBe(400);
        expect(res.body).toEqual({ statusCode: 400, message: 'Malformed JSON body', error: 'Bad Request' });
        expect(res.text).not.toContain('hunter2');
      }
    });

    it('writes each security event as one line of the host’s ConsoleLogger: the message, then its fields as JSON', async () => {
      const user = await host.signUp();
      await host.http.post('/auth/login').send({ email: user.email, password: 'a-wrong-password' }).expect(401);
      // Without the colours the logger adds on a colour terminal.
      const lines = stdout.join('').replace(/\x1b\[[0-9;]*m/g, '').split('\n');
      const eventLine = (event: string, userId: string): string[] => lines.filter((l) => l.includes(`"event":"${event}"`) && l.includes(userId));

      const [succeeded, ...more] = eventLine('auth.login.succeeded', user.userId);
      expect(more).toEqual([]);
      expect(succeeded).toMatch(/ LOG \[Auth\] Login succeeded \{.*\}$/);
      expect(JSON.parse(succeeded.slice(succeeded.indexOf('{')))).toEqual({ event: 'auth.login.succeeded', userId: user.userId, sessionId: user.sessionId });

      const [failed] = eventLine('auth.login.failed', user.userId);
      expect(failed).toMatch(/ WARN \[Auth\] Login failed \{.*\}$/);
      expect(JSON.parse(failed.slice(failed.indexOf('{')))).toEqual({ event: 'auth.login.failed', userId: user.userId, reason: 'wrong_password' });

      // Nothing the module logged was dumped as a multi-line object.
      expect(lines.filter((l) => /Object\(\d+\)/.test(l))).toEqual([]);
    });
  });

  describe('with registerExceptionFilter: false (a host with its own global filter)', () => {
    let host: Host;
    beforeAll(async () => {
      host = await startHost(db, { registerExceptionFilter: false });
    });
    afterAll(() => host.app.close());

    it('leaves host errors to the host (Nest’s default filter: the RLS violation is its 500), and 401s keep the same shape', async () => {
      const dave = await host.signUp();
      const erin = await host.signUp();
      const res = await host.http.post(`/host/sessions-for/${erin.userId}`).set(...bearer(dave.accessToken)).expect(500);
      expect(res.body).toEqual({ statusCode: 500, message: 'Internal server error' });
      expect((await host.http.get('/host/whoami').expect(401)).body).toEqual(UNAUTHORIZED);
      expect((await host.http.get('/sessions').expect(401)).body).toEqual(UNAUTHORIZED);
    });
  });
});
