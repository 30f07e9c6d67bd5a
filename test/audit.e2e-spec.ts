import { createHash, randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { AUTH_EVENT_TYPES } from '../src/audit/audit-event';
import { bearer, login, newUser, TestUser, Tokens } from './support/factories';
import { createTestApp, TestApp } from './support/test-app';

const GRACE_SECONDS = 10;
const IDLE_TIMEOUT = 600;
const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

type Row = Record<string, any>;

describe('audit log (auth_events)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({
      env: { TRUST_PROXY: 'loopback', REFRESH_GRACE_SECONDS: String(GRACE_SECONDS), SESSION_IDLE_TIMEOUT: String(IDLE_TIMEOUT) },
    });
  });
  afterAll(() => t.close());

  const events = (userId: string): Promise<Row[]> =>
    t.db.asOwner(async (c) => (await c.query('select * from auth_events where user_id = $1 order by created_at, id', [userId])).rows);
  const allEvents = (): Promise<Row[]> => t.db.asOwner(async (c) => (await c.query('select * from auth_events')).rows);

  /** As the runtime role, in a transaction running as `userId`, rolled back; the SQLSTATE of a failure, or the rows. */
  function asRuntimeUser(userId: string, sql: string, params: unknown[] = []): Promise<{ code?: string; rows?: Row[] }> {
    return t.db.asRuntime(async (c: Client) => {
      await c.query('begin');
      try {
        await c.query("select set_config('app.current_user_id', $1, true)", [userId]);
        return { rows: (await c.query(sql, params)).rows };
      } catch (err) {
        return { code: (err as { code?: string }).code };
      } finally {
        await c.query('rollback');
      }
    });
  }

  async function loginFrom(user: TestUser, ip: string, userAgent: string): Promise<Tokens> {
    return (await t.http.post('/auth/login').set('X-Forwarded-For', ip).set('User-Agent', userAgent).send({ email: user.email, password: user.password }).expect(200)).body;
  }

  it('records sign-ins, and failed sign-ins of existing accounts only, with the client IP and user agent', async () => {
    const u = await newUser(t.http);
    const before = (await allEvents()).length;
    await t.http.post('/auth/login').send({ email: `nobody-${randomUUID()}@example.test`, password: 'whatever-password' }).expect(401);
    expect((await allEvents()).length).toBe(before);

    const tokens = await loginFrom(u, '198.51.100.7', 'Firefox/128.0');
    t.clock.advance(1);
    await t.http.post('/auth/login').set('X-Forwarded-For', '203.0.113.66').set('User-Agent', 'curl/8').send({ email: u.email, password: 'not-the-password' }).expect(401);

    expect(await events(u.id)).toEqual([
      expect.objectContaining({ type: 'auth.login.succeeded', user_id: u.id, actor_id: u.id, session_id: tokens.sessionId, ip_address: '198.51.100.7', user_agent: 'Firefox/128.0', reason: null }),
      expect.objectContaining({ type: 'auth.login.failed', user_id: u.id, actor_id: null, session_id: null, ip_address: '203.0.113.66', user_agent: 'curl/8', reason: 'wrong_password' }),
    ]);
  });

  it("records each revocation with its reason and actor: logout and the user's own revocations (the user), idle timeout and token reuse (the service)", async () => {
    const u = await newUser(t.http);
    const a = await loginFrom(u, '198.51.100.1', 'A/1');
    const b = await loginFrom(u, '198.51.100.2', 'B/1');
    const c = await loginFrom(u, '198.51.100.3', 'C/1');
    const d = await loginFrom(u, '198.51.100.4', 'D/1');

    // DELETE /sessions/{id} of another session, from a: user_revoked; then a logs out.
    await t.http.delete(`/sessions/${b.sessionId}`).set(...bearer(a)).set('User-Agent', 'A/1').expect(204);
    await t.http.post('/auth/logout').set(...bearer(a)).expect(204);
    // c: a rotated token replayed after the grace window: reuse, revoked by the service.
    const rotated = await t.http.post('/auth/refresh').set('User-Agent', 'C/1').send({ refreshToken: c.refreshToken }).expect(200);
    t.clock.advance(GRACE_SECONDS + 1);
    await t.http.post('/auth/refresh').set('X-Forwarded-For', '203.0.113.9').set('User-Agent', 'Thief/1').send({ refreshToken: c.refreshToken }).expect(401);
    // d: unused past the idle timeout, refused and revoked at its next refresh.
    t.clock.advance(IDLE_TIMEOUT + 1);
    await t.http.post('/auth/refresh').set('User-Agent', 'D/1').send({ refreshToken: d.refreshToken }).expect(401);

    const rows = (await events(u.id)).filter((e) => e.type !== 'auth.login.succeeded');
    const view = rows.map((e) => [e.type, e.session_id, e.actor_id, e.reason, e.detail, e.user_agent]);
    expect(view).toEqual(
      expect.arrayContaining([
        ['session.revoked', b.sessionId, u.id, 'user_revoked', null, 'A/1'],
        ['session.revoked', a.sessionId, u.id, 'logout', null, null],
        ['auth.refresh.reuse_detected', c.sessionId, null, 'refresh_token_reuse', 'rotated_token_replayed', 'Thief/1'],
        ['session.revoked', c.sessionId, null, 'refresh_token_reuse', null, 'Thief/1'],
        ['session.revoked', d.sessionId, null, 'idle_timeout', null, 'D/1'],
      ]),
    );
    expect(view).toHaveLength(5);
    expect(rows.find((e) => e.type === 'auth.refresh.reuse_detected')?.ip_address).toBe('203.0.113.9');
    expect(rotated.body.sessionId).toBe(c.sessionId);
  });

  it('records a password change and the sessions it revokes, and never a password, token or hash in any event', async () => {
    const u = await newUser(t.http);
    const keep = await login(t.http, u);
    const other = await login(t.http, u);
    const newPassword = `new-${randomUUID()}`;
    await t.http.post('/auth/password').set(...bearer(keep)).send({ currentPassword: u.password, newPassword }).expect(204);
    const rows = await events(u.id);
    expect(rows.filter((e) => e.type !== 'auth.login.succeeded').map((e) => [e.type, e.session_id, e.actor_id, e.reason])).toEqual(
      expect.arrayContaining([
        ['auth.password.changed', keep.sessionId, u.id, null],
        ['session.revoked', other.sessionId, u.id, 'password_change'],
      ]),
    );

    const text = JSON.stringify(await allEvents());
    const hashes = await t.db.asOwner(async (c) => (await c.query('select password_hash from users union all select refresh_token_hash from sessions')).rows.map((r) => Object.values(r)[0] as string));
    expect(hashes.length).toBeGreaterThan(2);
    for (const secret of [u.password, newPassword, keep.accessToken, keep.refreshToken, other.refreshToken, sha256(other.refreshToken), ...hashes]) {
      expect(text).not.toContain(secret);
    }
  });

  it('every event type the library records is a documented one', async () => {
    const types = await t.db.asOwner(async (c) => (await c.query<{ type: string }>('select distinct type from auth_events')).rows.map((r) => r.type));
    expect(types.length).toBeGreaterThan(3);
    expect(types.filter((type) => !(AUTH_EVENT_TYPES as readonly string[]).includes(type))).toEqual([]);
  });

  it("GET /auth/events: the caller's own events only, newest first, page by page", async () => {
    const a = await newUser(t.http);
    const b = await newUser(t.http);
    const aTokens: Tokens[] = [];
    for (let i = 0; i < 5; i++) {
      aTokens.push(await login(t.http, a));
      t.clock.advance(1);
    }
    await login(t.http, b);
    t.clock.advance(1);

    const seen: Array<{ type: string; userId: string; sessionId: string; createdAt: string }> = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: { items: typeof seen; nextCursor: string | null } = (
        await t.http.get('/auth/events').query({ limit: 2, ...(cursor ? { cursor } : {}) }).set(...bearer(aTokens[4])).expect(200)
      ).body;
      seen.push(...page.items);
      cursor = page.nextCursor;
      pages++;
    } while (cursor && pages < 10);
    expect(pages).toBe(3);
    expect(seen.map((e) => e.sessionId)).toEqual(aTokens.map((x) => x.sessionId).reverse());
    expect(seen.every((e) => e.userId === a.id && e.type === 'auth.login.succeeded')).toBe(true);

    const bView = await t.http.get('/auth/events').set(...bearer(await login(t.http, b))).expect(200);
    expect(bView.body.items.every((e: { userId: string }) => e.userId === b.id)).toBe(true);
    await t.http.get('/auth/events').expect(401);
    await t.http.get('/auth/events').query({ cursor: 'garbage!' }).set(...bearer(aTokens[4])).expect(400);
  });

  describe('in the database, through the runtime role', () => {
    let a: TestUser;
    let b: TestUser;
    beforeAll(async () => {
      a = await newUser(t.http);
      b = await newUser(t.http);
      await login(t.http, a);
      await login(t.http, b);
    });

    it('UPDATE and DELETE on auth_events fail, even on the caller\'s own rows (and TRUNCATE)', async () => {
      expect(await asRuntimeUser(a.id, "update auth_events set reason = 'x' where user_id = $1", [a.id])).toEqual({ code: '42501' });
      expect(await asRuntimeUser(a.id, 'delete from auth_events where user_id = $1', [a.id])).toEqual({ code: '42501' });
      expect(await asRuntimeUser(a.id, 'truncate auth_events')).toEqual({ code: '42501' });
      // The owner's UPDATE is refused too (append-only trigger); rows are removed only by the purge.
      const ownerUpdate = await t.db.asOwner((c) => c.query("update auth_events set reason = 'x'").then(() => undefined, (e: { code?: string; message?: string }) => [e.code, e.message]));
      expect(ownerUpdate).toEqual(['42501', 'auth_events is append-only']);
      expect((await events(a.id)).every((e) => e.reason !== 'x')).toBe(true);
    });

    it("user A cannot read B's events", async () => {
      const own = await asRuntimeUser(a.id, 'select user_id from auth_events');
      expect(own.rows!.length).toBeGreaterThan(0);
      expect(own.rows!.every((r) => r.user_id === a.id)).toBe(true);
      expect(await asRuntimeUser(a.id, 'select * from auth_events where user_id = $1', [b.id])).toEqual({ rows: [] });
      expect(await asRuntimeUser('', 'select * from auth_events')).toEqual({ rows: [] });
    });

    it("A cannot write an event about B, nor one naming someone else as actor", async () => {
      const insert = 'insert into auth_events (type, user_id, actor_id) values ($1, $2, $3)';
      expect(await asRuntimeUser(a.id, insert, ['session.revoked', b.id, a.id])).toEqual({ code: '42501' });
      expect(await asRuntimeUser(a.id, insert, ['session.revoked', a.id, b.id])).toEqual({ code: '42501' });
      expect(await asRuntimeUser(a.id, insert, ['session.revoked', a.id, null])).toEqual({ rows: [] });
      expect(await asRuntimeUser(a.id, insert, ['Not A Type', a.id, null])).toEqual({ code: '23514' });
    });
  });
});
