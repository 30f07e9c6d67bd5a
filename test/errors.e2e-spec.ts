import { ArgumentsHost } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { Response } from 'supertest';
import { AccessTokenService } from '../src/auth/access-token.service';
import { AppExceptionFilter } from '../src/core/app-exception.filter';
import { RlsContext } from '../src/database/rls.context';
import { bearer, login, newUser, uniqueEmail } from './support/factories';
import { freePort } from './support/net';
import { createTestApp, TestApp } from './support/test-app';

/** Nothing internal in an error body: no SQL, no driver or ORM class names, no stack frames. */
function expectNoInternals(res: { text?: string; body?: unknown }): void {
  const text = res.text ?? JSON.stringify(res.body);
  expect(text).not.toMatch(/\bselect\b|\binsert\b|\bupdate\b|\bdelete\b/i);
  expect(text).not.toMatch(/QueryFailedError|DriverException|Knex|ECONNREFUSED|postgres|sessions|users|pg_|\bat \S+ \(|\.ts:\d+|\.js:\d+/);
  expect(text).not.toContain('row-level security');
}

describe('error mapping', () => {
  describe('when the database is unreachable', () => {
    let t: TestApp;
    beforeAll(async () => {
      const port = await freePort();
      t = await createTestApp({
        env: { DATABASE_APP_URL: `postgres://x:y@127.0.0.1:${port}/nope`, DATABASE_ACQUIRE_TIMEOUT_MS: '1000' },
      });
    });
    afterAll(() => t.close());

    async function timed(req: PromiseLike<Response>): Promise<Response> {
      const started = Date.now();
      const res = await req;
      expect(Date.now() - started).toBeLessThan(4000);
      return res;
    }

    it('answers authenticated routes with a JSON 503, and logs it, without driver text or credentials', async () => {
      const access = t.app.get(AccessTokenService).sign(randomUUID(), randomUUID());
      const res = await timed(t.http.get('/sessions').set('Authorization', `Bearer ${access.token}`));
      expect(res.status).toBe(503);
      expect(res.headers['content-type']).toMatch(/application\/json/);
      expect(res.body).toEqual({ statusCode: 503, message: 'Database unavailable, try again shortly', error: 'Service Unavailable' });
      expect(res.headers['retry-after']).toBe('1');
      expectNoInternals(res);

      const lines = t.logs.lines.filter((l) => l.includes('Database error'));
      expect(lines).not.toEqual([]);
      // The client's own address (`ip`) is logged on purpose; the database's address and credentials are not.
      const logged = lines.map((l) => JSON.stringify({ ...JSON.parse(l), ip: undefined })).join('\n');
      expect(logged).not.toMatch(/x:y|127\.0\.0\.1|nope/);
    });

    it('answers public routes with a JSON 503 and no driver text', async () => {
      for (const send of [
        () => t.http.post('/auth/login').send({ email: uniqueEmail(), password: 'whatever-password' }),
        () => t.http.post('/auth/register').send({ email: uniqueEmail(), password: 'whatever-password' }),
      ]) {
        const res = await timed(send());
        expect(res.status).toBe(503);
        expect(res.body).toMatchObject({ statusCode: 503, error: 'Service Unavailable' });
        expectNoInternals(res);
      }
    });

    it('reports /health as 503 {status: error, database: down}', async () => {
      const res = await timed(t.http.get('/health'));
      expect(res.status).toBe(503);
      expect(res.body).toEqual({ status: 'error', database: 'down' });
    });

  });

  describe('with a working database', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await createTestApp();
    });
    afterAll(() => t.close());

    it('reports /health as 200 {status: ok, database: up}', async () => {
      const res = await t.http.get('/health').expect(200);
      expect(res.body).toEqual({ status: 'ok', database: 'up' });
    });

    it('maps a real RLS WITH CHECK violation (SQLSTATE 42501) to 403 without driver text', async () => {
      const a = await newUser(t.http);
      const b = await newUser(t.http);
      const error = await t.app
        .get(RlsContext)
        .runAsUser(a.id, (em) =>
          em
            .getConnection()
            .execute(
              "insert into sessions (user_id, refresh_token_hash, expires_at) values (?, 'x', now() + interval '1 day')",
              [b.id],
              'run',
              em.getTransactionContext(),
            ),
        )
        .then(
          () => undefined,
          (err: unknown) => err,
        );
      expect(error).toMatchObject({ code: '42501' });
      expect(String((error as Error).message)).toMatch(/row-level security/);

      let status: number | undefined;
      let body: unknown;
      const res = {
        headersSent: false,
        setHeader: jest.fn(),
        status(code: number) {
          status = code;
          return this;
        },
        json(payload: unknown) {
          body = payload;
          return this;
        },
      };
      const host = {
        getType: () => 'http',
        switchToHttp: () => ({ getResponse: () => res, getRequest: () => ({}) }),
      } as unknown as ArgumentsHost;
      new AppExceptionFilter().catch(error, host);

      expect([403, 404]).toContain(status);
      expect(body).toEqual({ statusCode: status, message: expect.any(String), error: expect.any(String) });
      expectNoInternals({ body });
      // Nothing was written for B.
      const rows = await t.db.asOwner((c) => c.query('select 1 from sessions where user_id = $1', [b.id]));
      expect(rows.rowCount).toBe(0);
    });

    describe('invalid input is a 400 (or 413) with a clean body', () => {
      let tokens: { accessToken: string };
      beforeAll(async () => {
        tokens = await login(t.http, await newUser(t.http));
      });

      it('rejects a path id that is not a UUID with 400 on GET, PATCH and DELETE', async () => {
        for (const send of [
          () => t.http.get('/sessions/not-a-uuid').set(...bearer(tokens)),
          () => t.http.patch('/sessions/1%27%20or%201=1').set(...bearer(tokens)).send({ deviceName: 'x' }),
          () => t.http.delete('/sessions/123').set(...bearer(tokens)),
        ]) {
          const res = await send();
          expect(res.status).toBe(400);
          expect(res.body).toMatchObject({ statusCode: 400, error: 'Bad Request' });
          expectNoInternals(res);
        }
      });

      it('rejects malformed JSON with 400 without echoing any of the body', async () => {
        const bodies = ['{"email": "a@b.test", "password": ', '{"email": "a@b.test", "password": hunter2-secret}', 'select * from users'];
        for (const raw of bodies) {
          const res = await t.http.post('/auth/login').set('Content-Type', 'application/json').send(raw);
          expect(res.status).toBe(400);
          expect(res.body).toEqual({ statusCode: 400, message: 'Malformed JSON body', error: 'Bad Request' });
          expect(res.text).not.toContain('hunter2');
          expectNoInternals(res);
        }
      });

      it('rejects unknown body fields with 400', async () => {
        const res = await t.http.post('/auth/register').send({ email: uniqueEmail(), password: 'long-enough-pw', isAdmin: true });
        expect(res.status).toBe(400);
        expect(res.body).toMatchObject({ statusCode: 400, error: 'Bad Request' });
        expect(JSON.stringify(res.body.message)).toContain('isAdmin');
        expectNoInternals(res);

        const patch = await t.http
          .patch(`/sessions/${randomUUID()}`)
          .set(...bearer(tokens))
          .send({ deviceName: 'x', userId: randomUUID() });
        expect(patch.status).toBe(400);
        expectNoInternals(patch);
      });

      it('rejects a deviceType outside the list with 400', async () => {
        const user = await newUser(t.http);
        const res = await t.http.post('/auth/login').send({ email: user.email, password: user.password, deviceType: 'toaster' });
        expect(res.status).toBe(400);
        expect(JSON.stringify(res.body.message)).toContain('deviceType');
        expectNoInternals(res);
        const rows = await t.db.asOwner((c) => c.query('select 1 from sessions where user_id = $1', [user.id]));
        expect(rows.rowCount).toBe(0);
      });

      it('rejects a body over the 16kb limit with 413', async () => {
        const displayName = 'x'.repeat(17 * 1024);
        const res = await t.http.post('/auth/register').send({ email: uniqueEmail(), password: 'long-enough-pw', displayName });
        expect(res.status).toBe(413);
        expect(res.body).toEqual({ statusCode: 413, message: 'Request body too large', error: 'Payload Too Large' });
        expectNoInternals(res);
      });
    });

    describe('control characters in names and emails', () => {
      /** C0, DEL, C1, and the Unicode bidi controls (U+202E shows what follows it reversed). */
      const CONTROLS = [
        ...range(0x00, 0x1f),
        0x7f,
        ...range(0x80, 0x9f),
        0x061c,
        0x200e,
        0x200f,
        ...range(0x202a, 0x202e),
        ...range(0x2066, 0x2069),
      ].map((code) => String.fromCharCode(code));
      /** Ordinary names in other scripts: an apostrophe, a diaeresis, Arabic, Hebrew, Cyrillic, CJK, an emoji. */
      const ORDINARY_NAMES = ['Zoë’s iPhone', 'هاتف أحمد', 'הטלפון של דנה', 'Ноутбук Ани', '王小明的电脑', '📱 Pixel 8', 'Ada (work) – Café'];
      const hex = (c: string): string => `U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`;

      let user: { id: string; email: string; password: string };
      let own: { accessToken: string; sessionId: string };
      beforeAll(async () => {
        user = await newUser(t.http);
        own = await login(t.http, user, { deviceName: 'original name' });
      });

      const counts = async (): Promise<{ users: number; sessions: number; deviceName: string | null }> =>
        t.db.asOwner(async (c) => ({
          users: Number((await c.query('select count(*) from users')).rows[0].count),
          sessions: Number((await c.query('select count(*) from sessions')).rows[0].count),
          deviceName: (await c.query('select device_name from sessions where id = $1', [own.sessionId])).rows[0].device_name,
        }));

      /** Every field that takes a name or an email, with `value` put in it. */
      const fields = (value: string): Array<{ field: string; route: string; send: () => PromiseLike<Response> }> => [
        {
          field: 'displayName',
          route: 'POST /auth/register',
          send: () => t.http.post('/auth/register').send({ email: uniqueEmail(), password: 'long-enough-pw', displayName: value }),
        },
        { field: 'email', route: 'POST /auth/register', send: () => t.http.post('/auth/register').send({ email: `${value}@example.test`, password: 'long-enough-pw' }) },
        { field: 'email', route: 'POST /auth/login', send: () => t.http.post('/auth/login').send({ email: `${value}@example.test`, password: 'long-enough-pw' }) },
        {
          field: 'deviceName',
          route: 'POST /auth/login',
          send: () => t.http.post('/auth/login').send({ email: user.email, password: user.password, deviceName: value }),
        },
        {
          field: 'deviceName',
          route: 'PATCH /sessions/:id',
          send: () => t.http.patch(`/sessions/${own.sessionId}`).set(...bearer(own)).send({ deviceName: value }),
        },
      ];

      it('refuses each C0, DEL, C1 and bidi control code point with 400 in displayName, email (register and login) and deviceName (login and PATCH /sessions/:id), writing nothing', async () => {
        const before = await counts();
        for (const control of CONTROLS) {
          // Inside the value, where trimming cannot remove it.
          for (const { field, route, send } of fields(`name${control}part`)) {
            const res = await send();
            if (res.status !== 400 || !res.body.message?.includes(`${field} must not contain control characters`)) {
              throw new Error(`${hex(control)} in ${field} (${route}): ${res.status} ${res.text.slice(0, 300)}`);
            }
            expect(res.body).toMatchObject({ statusCode: 400, error: 'Bad Request' });
          }
        }
        expect(await counts()).toEqual(before);
      });

      it('accepts ordinary names in any script (controls: no control characters) as displayName and deviceName, stored as sent', async () => {
        for (const name of ORDINARY_NAMES) {
          const email = uniqueEmail();
          const registered = await t.http.post('/auth/register').send({ email, password: 'long-enough-pw', displayName: name });
          expect(registered.status).toBe(201);
          expect(registered.body.displayName).toBe(name);

          const signedIn = await t.http.post('/auth/login').send({ email, password: 'long-enough-pw', deviceName: name });
          expect(signedIn.status).toBe(200);
          const stored = await t.db.asOwner((c) => c.query('select device_name from sessions where id = $1', [signedIn.body.sessionId]));
          expect(stored.rows[0].device_name).toBe(name);

          const renamed = await t.http.patch(`/sessions/${own.sessionId}`).set(...bearer(own)).send({ deviceName: name });
          expect(renamed.status).toBe(200);
          expect(renamed.body.deviceName).toBe(name);
        }
        const nonAscii = `zoë-${uniqueEmail()}`;
        await t.http.post('/auth/register').send({ email: nonAscii, password: 'long-enough-pw' }).expect(201);
        await t.http.post('/auth/login').send({ email: nonAscii, password: 'long-enough-pw' }).expect(200);
      });
    });
  });
});

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}
