import { randomBytes, randomUUID } from 'node:crypto';
import { connect, type AddressInfo } from 'node:net';
import type { Response } from 'supertest';
import { RefreshTokenCodec } from '../src/sessions/refresh-token';
import { bearer, login, newUser, Tokens } from './support/factories';
import { createTestApp, TestApp } from './support/test-app';

type Entry = Record<string, unknown> & {
  level: number;
  reqId?: string;
  req?: { id?: string; method?: string };
  res?: { statusCode?: number };
  route?: string;
  durationMs?: number;
  event?: string;
  userId?: string;
  sessionId?: string;
  reason?: string;
};

const INFO = 30;
const WARN = 40;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * One app for the whole file, at the most verbose level: pino-based loggers outside a request go
 * to the first app built in a process, so a single app sees every line this file causes.
 */
describe('structured logging', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: { LOG_LEVEL: 'trace', REFRESH_GRACE_SECONDS: '5', BODY_LIMIT: '4kb' } });
  });
  afterAll(() => t?.close());

  const entries = (): Entry[] => t.logs.entries() as Entry[];

  /** The request-completion lines (those with a response) for one request id. */
  function requestLines(id: string): { entry: Entry; raw: string }[] {
    return t.logs.lines
      .map((raw) => ({ raw, entry: JSON.parse(raw) as Entry }))
      .filter(({ entry }) => entry.req?.id === id && entry.res !== undefined);
  }

  /** pino writes the line on the response's `finish`; give the event loop a bounded number of turns. */
  async function requestLine(id: string): Promise<{ entry: Entry; raw: string }> {
    for (let i = 0; i < 100 && requestLines(id).length === 0; i++) await new Promise((r) => setImmediate(r));
    const lines = requestLines(id);
    expect(lines).toHaveLength(1);
    return lines[0];
  }

  function eventsFor(res: Response, event: string): Entry[] {
    const id = res.headers['x-request-id'];
    expect(id).toEqual(expect.any(String));
    return entries().filter((e) => e.event === event && e.reqId === id);
  }

  describe('one line per request', () => {
    it('writes exactly one JSON line per request with method, route pattern, status, durationMs and the request id', async () => {
      const user = await newUser(t.http);
      const tokens = await login(t.http, user);
      const cases: { send: (id: string) => PromiseLike<Response>; method: string; route: string; status: number }[] = [
        { send: (id) => t.http.get(`/sessions/${tokens.sessionId}`).set(...bearer(tokens)).set('X-Request-Id', id), method: 'GET', route: '/sessions/:id', status: 200 },
        { send: (id) => t.http.get(`/sessions/${randomUUID()}`).set(...bearer(tokens)).set('X-Request-Id', id), method: 'GET', route: '/sessions/:id', status: 404 },
        { send: (id) => t.http.patch(`/sessions/${tokens.sessionId}`).set(...bearer(tokens)).set('X-Request-Id', id).send({ deviceName: 'Desk' }), method: 'PATCH', route: '/sessions/:id', status: 200 },
        { send: (id) => t.http.get('/sessions').set(...bearer(tokens)).set('X-Request-Id', id), method: 'GET', route: '/sessions', status: 200 },
        { send: (id) => t.http.get('/auth/me').set('X-Request-Id', id), method: 'GET', route: '/auth/me', status: 401 },
        { send: (id) => t.http.post('/auth/login').set('X-Request-Id', id).send({ email: user.email, password: 'not-the-password' }), method: 'POST', route: '/auth/login', status: 401 },
        { send: (id) => t.http.get('/health').set('X-Request-Id', id), method: 'GET', route: '/health', status: 200 },
        // Refused by the body parser, before any route runs: still one line, still a request id.
        {
          send: (id) => t.http.post('/auth/login').set('X-Request-Id', id).set('Content-Type', 'application/json').send('{"email": "a@example.test", "password": '),
          method: 'POST',
          route: '/auth/login',
          status: 400,
        },
        {
          send: (id) => t.http.post('/auth/register').set('X-Request-Id', id).send({ email: 'big@example.test', password: 'x'.repeat(8 * 1024) }),
          method: 'POST',
          route: '/auth/register',
          status: 413,
        },
      ];

      for (const c of cases) {
        const id = `case-${randomBytes(6).toString('hex')}`;
        const res = await c.send(id);
        expect(res.status).toBe(c.status);
        expect(res.headers['x-request-id']).toBe(id);

        const { entry, raw } = await requestLine(id);
        expect(entry).toMatchObject({ reqId: id, req: { id, method: c.method }, res: { statusCode: c.status }, route: c.route });
        expect(typeof entry.durationMs).toBe('number');
        expect(entry.durationMs).toBeGreaterThanOrEqual(0);
        expect(entry.level).toBe(INFO);
        // One value per key: a second, conflicting "route" would be read differently by different parsers.
        expect(raw.match(/"route":/g)).toHaveLength(1);
        // The client address (supertest connects over loopback), once.
        expect(entry.ip).toBe('127.0.0.1');
        expect(raw.match(/"ip":/g)).toHaveLength(1);
      }
    });
  });

  it('logs a request whose client goes away before the answer once, marked aborted', async () => {
    const id = `aborted-${randomBytes(6).toString('hex')}`;
    const { port } = t.app.getHttpServer().address() as AddressInfo;
    // A body announced as 200 bytes of which 20 arrive: the parser is still waiting when the client leaves.
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write(`POST /auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 200\r\nX-Request-Id: ${id}\r\n\r\n{"email": "a@b.test"`);
    await new Promise((r) => setTimeout(r, 50));
    socket.destroy();
    const { entry } = await requestLine(id);
    expect(entry).toMatchObject({ reqId: id, req: { id, method: 'POST' }, route: '/auth/login', aborted: true, level: INFO, ip: '127.0.0.1' });
    expect(entry.msg).toBe(`POST /auth/login ${entry.res!.statusCode} aborted by the client`);
  });

  describe('request id', () => {
    it('uses a well-formed incoming X-Request-Id in the log line and echoes it in the response', async () => {
      const id = 'Client-Req.42:abc_DEF-9';
      const res = await t.http.get('/health').set('X-Request-Id', id).expect(200);
      expect(res.headers['x-request-id']).toBe(id);
      const { entry } = await requestLine(id);
      expect(entry.reqId).toBe(id);
    });

    it.each([
      ['300 characters', 'a'.repeat(300)],
      ['a space', 'abc def'],
      ['a tab', 'abc\tdef'],
      ['quotes (log injection)', 'x","level":60,"msg":"forged'],
      ['a semicolon', 'abc;def'],
    ])('replaces an X-Request-Id containing %s with a generated UUID, in the response and the log line', async (_what, incoming) => {
      const res = await t.http.get('/health').set('X-Request-Id', incoming).expect(200);
      const id = res.headers['x-request-id'];
      expect(id).toMatch(UUID);
      expect(id).not.toBe(incoming);
      const { entry } = await requestLine(id);
      expect(entry.reqId).toBe(id);
      expect(t.logs.lines.some((line) => line.includes(incoming))).toBe(false);
    });

    it('generates a distinct UUID per request when none is sent', async () => {
      const a = (await t.http.get('/health').expect(200)).headers['x-request-id'];
      const b = (await t.http.get('/health').expect(200)).headers['x-request-id'];
      expect(a).toMatch(UUID);
      expect(b).toMatch(UUID);
      expect(a).not.toBe(b);
      expect((await requestLine(a)).entry.route).toBe('/health');
      expect((await requestLine(b)).entry.route).toBe('/health');
    });
  });

  describe('redaction', () => {
    it('keeps passwords, tokens, the Authorization and Cookie values, bcrypt hashes and refresh-token hashes out of every log line', async () => {
      const marker = randomBytes(8).toString('hex');
      const password = `Old-Pass-${marker}`;
      const newPassword = `New-Pass-${randomBytes(8).toString('hex')}`;
      const wrongPassword = `Wrong-Pass-${randomBytes(8).toString('hex')}`;
      const cookieValue = `cookie-secret-${randomBytes(12).toString('hex')}`;
      const cookie = `sid=${cookieValue}; theme=dark`;
      const user = await newUser(t.http, { password });
      const all: Tokens[] = [];
      const keep = (res: Response): Tokens => {
        expect(res.status).toBe(200);
        all.push(res.body as Tokens);
        return res.body as Tokens;
      };
      const withCookie = <T extends { set(name: string, value: string): T }>(req: T): T => req.set('Cookie', cookie);

      const first = keep(await withCookie(t.http.post('/auth/login')).send({ email: user.email, password, deviceName: 'Laptop' }));
      const other = keep(await withCookie(t.http.post('/auth/login')).send({ email: user.email, password }));
      const rotated = keep(await withCookie(t.http.post('/auth/refresh')).send({ refreshToken: first.refreshToken }));
      await withCookie(t.http.get('/sessions')).set(...bearer(rotated)).expect(200);
      await withCookie(t.http.get('/auth/me')).set(...bearer(rotated)).expect(200);
      // Failure paths, which are where request bodies tend to get logged.
      await withCookie(t.http.post('/auth/login')).send({ email: user.email, password: wrongPassword }).expect(401);
      await withCookie(t.http.post('/auth/password')).set(...bearer(rotated)).send({ currentPassword: wrongPassword, newPassword }).expect(401);
      await withCookie(t.http.post('/auth/login'))
        .set('Content-Type', 'application/json')
        .send(`{"email": "${user.email}", "password": "${password}"`)
        .expect(400);
      await withCookie(t.http.post('/auth/login')).send({ email: user.email, password, unexpected: password }).expect(400);
      await withCookie(t.http.post('/auth/password')).set(...bearer(rotated)).send({ currentPassword: password, newPassword }).expect(204);
      await withCookie(t.http.get('/sessions')).set(...bearer(other)).expect(401);
      await withCookie(t.http.post('/auth/refresh')).send({ refreshToken: other.refreshToken }).expect(401);
      const after = keep(await withCookie(t.http.post('/auth/login')).send({ email: user.email, password: newPassword }));
      await withCookie(t.http.post('/auth/logout')).set(...bearer(after)).expect(204);

      const codec = t.app.get(RefreshTokenCodec);
      const db = await t.db.asOwner(async (c) => ({
        refreshHashes: (await c.query('select refresh_token_hash from sessions where user_id = $1', [user.id])).rows.map((r) => r.refresh_token_hash as string),
        passwordHash: (await c.query('select password_hash from users where id = $1', [user.id])).rows[0].password_hash as string,
      }));
      expect(db.refreshHashes.length).toBeGreaterThanOrEqual(3);
      expect(db.passwordHash.startsWith('$2b$')).toBe(true);

      const secrets: [string, string][] = [
        ['password', password],
        ['new password', newPassword],
        ['wrong password', wrongPassword],
        ['cookie value', cookieValue],
        ['password hash', db.passwordHash],
        ...all.flatMap((tok): [string, string][] => [
          ['access token', tok.accessToken],
          ['Authorization header', `Bearer ${tok.accessToken}`],
          ['refresh token', tok.refreshToken],
          ['refresh token hash', codec.hash(tok.refreshToken)],
        ]),
        ...db.refreshHashes.map((h): [string, string] => ['stored refresh token hash', h]),
      ];

      // The flow was logged (so the absence below is not an empty log) ...
      const routes = new Set(entries().filter((e) => e.res !== undefined).map((e) => e.route));
      for (const route of ['/auth/login', '/auth/refresh', '/auth/password', '/auth/logout', '/sessions', '/auth/me']) expect(routes).toContain(route);
      // ... and nothing secret is in it.
      const logText = t.logs.lines.join('\n');
      for (const [what, value] of secrets) {
        if (logText.includes(value)) throw new Error(`a log line contains the ${what}`);
      }
      expect(logText).not.toContain('$2b$');
      expect(logText).not.toContain(marker);
    });
  });

  describe('security events', () => {
    const expectEvent = (e: Entry | undefined, fields: Partial<Entry>, levels: number[]): void => {
      expect(e).toBeDefined();
      expect(e).toMatchObject(fields);
      expect(levels).toContain(e!.level);
    };

    it('logs a successful login with event, userId and sessionId at info', async () => {
      const user = await newUser(t.http);
      const res = await t.http.post('/auth/login').send({ email: user.email, password: user.password }).expect(200);
      const [e, ...more] = eventsFor(res, 'auth.login.succeeded');
      expect(more).toHaveLength(0);
      expectEvent(e, { userId: user.id, sessionId: res.body.sessionId }, [INFO]);
    });

    it('logs a failed login for an unknown email at warn, with no userId', async () => {
      const res = await t.http.post('/auth/login').send({ email: `nobody-${randomBytes(4).toString('hex')}@example.test`, password: 'some-password-1' }).expect(401);
      const [e] = eventsFor(res, 'auth.login.failed');
      expectEvent(e, { reason: 'unknown_email' }, [WARN]);
      expect(e.userId).toBeUndefined();
      expect(e.sessionId).toBeUndefined();
    });

    it('logs a failed login with a wrong password at warn, carrying the userId', async () => {
      const user = await newUser(t.http);
      const res = await t.http.post('/auth/login').send({ email: user.email, password: 'wrong-password-1' }).expect(401);
      const [e] = eventsFor(res, 'auth.login.failed');
      expectEvent(e, { userId: user.id, reason: 'wrong_password' }, [WARN]);
    });

    it('logs refresh-token reuse at warn with userId and the revoked sessionId', async () => {
      const user = await newUser(t.http);
      const tokens = await login(t.http, user);
      await t.http.post('/auth/refresh').send({ refreshToken: tokens.refreshToken }).expect(200);
      t.clock.advance(6); // past REFRESH_GRACE_SECONDS: the old token is now a replay
      const res = await t.http.post('/auth/refresh').send({ refreshToken: tokens.refreshToken }).expect(401);
      const [e] = eventsFor(res, 'auth.refresh.reuse_detected');
      expectEvent(e, { userId: user.id, sessionId: tokens.sessionId, reason: 'refresh_token_reuse' }, [WARN]);
    });

    it('logs DELETE /sessions/:id as session.revoked (user_revoked) with userId and the revoked sessionId', async () => {
      const user = await newUser(t.http);
      const me = await login(t.http, user);
      const phone = await login(t.http, user);
      const res = await t.http.delete(`/sessions/${phone.sessionId}`).set(...bearer(me)).expect(204);
      const [e, ...more] = eventsFor(res, 'session.revoked');
      expect(more).toHaveLength(0);
      expectEvent(e, { userId: user.id, sessionId: phone.sessionId, reason: 'user_revoked' }, [INFO, WARN]);
    });

    it('logs logout as session.revoked (logout) with userId and sessionId', async () => {
      const user = await newUser(t.http);
      const me = await login(t.http, user);
      const res = await t.http.post('/auth/logout').set(...bearer(me)).expect(204);
      const [e] = eventsFor(res, 'session.revoked');
      expectEvent(e, { userId: user.id, sessionId: me.sessionId, reason: 'logout' }, [INFO, WARN]);
    });

    it('logs a password change (auth.password.changed) and each other session it revokes (password_change), not the current one', async () => {
      const user = await newUser(t.http);
      const me = await login(t.http, user);
      const tablet = await login(t.http, user);
      const phone = await login(t.http, user);
      const res = await t.http
        .post('/auth/password')
        .set(...bearer(me))
        .send({ currentPassword: user.password, newPassword: `changed-${randomBytes(6).toString('hex')}` })
        .expect(204);

      const [changed] = eventsFor(res, 'auth.password.changed');
      expectEvent(changed, { userId: user.id, sessionId: me.sessionId }, [INFO, WARN]);

      const revoked = eventsFor(res, 'session.revoked');
      for (const e of revoked) expectEvent(e, { userId: user.id, reason: 'password_change' }, [INFO, WARN]);
      expect(revoked.map((e) => e.sessionId).sort()).toEqual([tablet.sessionId, phone.sessionId].sort());
    });

    it('carries the client IP, as sessions record it, on every security event above', () => {
      const events = entries().filter((e) => typeof e.event === 'string');
      expect(new Set(events.map((e) => e.event))).toEqual(
        new Set(['auth.registered', 'auth.login.succeeded', 'auth.login.failed', 'auth.refresh.reuse_detected', 'session.revoked', 'auth.password.changed']),
      );
      for (const e of events) expect(e).toMatchObject({ ip: '127.0.0.1' });
    });
  });
});
