'use strict';
// The stack floors: the floor's requests (floor-server.js: same statements, same forms, same
// set_config, same transaction, same role and pool size, tokens decoded but not verified), served
// by the stack the design prescribes instead of bare node:http + pg. A NestJS app whose global
// interceptor opens the request's transaction:
//
//   STACK_FLOOR_DRIVER=mikro-orm  (default) forks MikroORM's entity manager and runs the request in
//                                 `em.fork().transactional()`, every statement sent through that
//                                 transaction (Kysely, bound parameters), as the service sends its
//                                 hand-written SQL (src/database/sql.ts);
//   STACK_FLOOR_DRIVER=pg         BEGIN … COMMIT on a client of a plain `pg` pool: NestJS alone.
//   STACK_FLOOR_ADAPTER=express   (default) Nest's default HTTP adapter, the one the service uses;
//   STACK_FLOOR_ADAPTER=fastify   @nestjs/platform-fastify: whether the other adapter would reach
//                                 the targets the Express one cannot.
//
// No guard, validation, logging, security headers or exception mapping. They answer "what does the
// stack itself cost per request?": the service can at best approach them, so their ratio to the
// floor bounds what any service on NestJS (+ MikroORM) can reach on the same machine.
//
//   FLOOR_DATABASE_URL (runtime role), FLOOR_POOL_MAX, FLOOR_SET_CONFIG, FLOOR_STATEMENTS, PORT, HOST:
//   as for floor-server.js.
require('reflect-metadata');
const { Controller, Get, Post, HttpCode, HttpException, Module, Req, Body } = require('@nestjs/common');
const { NestFactory } = require('@nestjs/core');
const { MikroORM, PostgreSqlDriver } = require('@mikro-orm/postgresql');
const { Pool } = require('pg');
const { CompiledQuery } = require('kysely');
const { from, lastValueFrom } = require('rxjs');
const { SQL, RLS_SETTING, render } = require('./hot-paths');
const { pgTransaction, bearerClaims, sessionDto, userDto, decodeRefresh, decideRefresh, tokensDto } = require('./lib/floor-requests');

const USE_PG = process.env.STACK_FLOOR_DRIVER === 'pg';
const FASTIFY = process.env.STACK_FLOOR_ADAPTER === 'fastify';
const SET_CONFIG = process.env.FLOOR_SET_CONFIG ? JSON.parse(process.env.FLOOR_SET_CONFIG) : { text: SQL.setConfig, extra: [] };
const FORMS = process.env.FLOOR_STATEMENTS ? JSON.parse(process.env.FLOOR_STATEMENTS) : {};

/** A statement in the request's transaction: on its pg client, or on its Kysely transaction (bound form). */
async function run(req, text, values) {
  if (req.pg) return (await req.pg.query(text, values)).rows;
  const result = await req.em.getTransactionContext().executeQuery(CompiledQuery.raw(text, values ?? []));
  return result.rows;
}
const q = (req, key, values) => {
  const { form, text } = FORMS[key] || {};
  const r = render(key, values, form, text);
  return run(req, r.text, r.values);
};
const setUser = (req, userId) => run(req, SET_CONFIG.text, [RLS_SETTING, userId, ...SET_CONFIG.extra]);

const unauthorized = () => new HttpException({ statusCode: 401 }, 401);



/** The design's global interceptor, reduced to its core: transaction, set_config, session check. */
class TransactionInterceptor {
  constructor(em, pool) {
    this.em = em;
    this.pool = pool;
  }
  intercept(context, next) {
    const req = context.switchToHttp().getRequest();
    // Express's request has `path`; Fastify's (the raw one behind Nest's) only `url`.
    if ((req.path ?? req.url) === '/health') return next.handle();
    const who = req.method === 'GET' ? bearerClaims(req.headers.authorization) : null;
    if (req.method === 'GET' && !who) throw unauthorized();
    req.who = who;
    const body = async () => {
      // A refresh (the only POST here) sets its user itself, as the service's refresh transaction does.
      if (who) {
        await setUser(req, who.userId);
        const active = await q(req, 'isActive', [who.sessionId, new Date()]);
        if (!active.length) throw unauthorized();
      }
      return lastValueFrom(next.handle(), { defaultValue: undefined });
    };
    if (this.pool) return from(this.pgTransaction(req, body));
    return from(
      this.em.fork().transactional((em) => {
        req.em = em;
        return body();
      }),
    );
  }
  pgTransaction(req, body) {
    return pgTransaction(this.pool, (client) => {
      req.pg = client;
      return body();
    });
  }

}

class BenchController {
  health() {
    return { status: 'ok' };
  }
  async sessions(req) {
    const rows = await q(req, 'listActive', [new Date()]);
    return rows.map((s) => sessionDto(s, req.who.sessionId));
  }
  async me(req) {
    const user = (await q(req, 'findUser', [req.who.userId]))[0];
    if (!user) throw unauthorized();
    return userDto(user);
  }
  async refresh(req, body) {
    const claims = decodeRefresh(body.refreshToken);
    if (!claims) throw unauthorized();
    await setUser(req, claims.userId);
    const row = (await q(req, 'lockForRefresh', [claims.sessionId]))[0];
    const now = new Date();
    const decision = decideRefresh(claims, row, now);
    if (!decision) throw unauthorized();
    if (decision.rotate) {
      const { hash, expiresAt } = decision.rotate;
      const values = [hash, now, expiresAt, req.headers['user-agent'] ?? null, claims.sessionId];
      await q(req, 'rotate', values);
    }
    return tokensDto(claims);
  }

}

// Decorators applied by hand (plain JavaScript, no compile step).
const method = (name) => Object.getOwnPropertyDescriptor(BenchController.prototype, name);
const route = (decorator, name, params = []) => {
  params.forEach((p, i) => p(BenchController.prototype, name, i));
  decorator(BenchController.prototype, name, method(name));
};
Controller()(BenchController);
route(Get('health'), 'health');
route(Get('sessions'), 'sessions', [Req()]);
route(Get('auth/me'), 'me', [Req()]);
route(Post('auth/refresh'), 'refresh', [Req(), Body()]);
HttpCode(200)(BenchController.prototype, 'refresh', method('refresh'));
class BenchModule {}
Module({ controllers: [BenchController] })(BenchModule);

async function main() {
  const poolMax = Number(process.env.FLOOR_POOL_MAX || 10);
  let orm = null;
  let pool = null;
  if (USE_PG) {
    pool = new Pool({ connectionString: process.env.FLOOR_DATABASE_URL, max: poolMax, idleTimeoutMillis: 30_000, application_name: 'nra-bench-nest-floor' });
  } else {
    orm = await MikroORM.init({
      driver: PostgreSqlDriver,
      clientUrl: process.env.FLOOR_DATABASE_URL,
      entities: [],
      discovery: { warnWhenNoEntities: false },
      allowGlobalContext: false,
      forceUtcTimezone: true,
      ensureDatabase: false,
      pool: { min: 0, max: poolMax, idleTimeoutMillis: 30_000 },
      driverOptions: { application_name: 'nra-bench-stack-floor' },
    });
  }
  const app = FASTIFY
    ? await NestFactory.create(BenchModule, new (require('@nestjs/platform-fastify').FastifyAdapter)(), { logger: ['error'] })
    : await NestFactory.create(BenchModule, { logger: ['error'] });
  app.useGlobalInterceptors(new TransactionInterceptor(orm?.em, pool));
  await app.listen(Number(process.env.PORT || 0), process.env.HOST || '127.0.0.1');
  console.log(`stack floor (${FASTIFY ? 'fastify' : 'express'}, ${USE_PG ? 'pg' : 'mikro-orm'}) listening on ${JSON.stringify(app.getHttpServer().address())}`);
  const stop = () =>
    app
      .close()
      .then(() => (orm ? orm.close() : pool.end()))
      .then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
