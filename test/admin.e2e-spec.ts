import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { setUserRole } from '../src/users/user-roles';
import { bearer, login, newUser, TestUser, Tokens } from './support/factories';
import { appRoutes } from './support/app-routes';
import { createTestApp, TestApp } from './support/test-app';

const ROOT = join(__dirname, '..');

/** The real CLI (`npm run users:grant-admin` / `users:revoke-admin` without the build step), as the owner. */
function usersRoleCli(ownerUrl: string, command: 'grant-admin' | 'revoke-admin', email: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', join(ROOT, 'src/cli/users-role.ts'), command, email], {
      cwd: ROOT,
      env: { ...process.env, NODE_ENV: 'test', DATABASE_URL: ownerUrl, LOG_LEVEL: 'silent' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, out }));
  });
}

/** The admin routes the issue specifies; the route checks below cover whatever Nest serves beyond them too. */
const SPECIFIED_ADMIN_ROUTES = [
  'DELETE /admin/sessions',
  'DELETE /admin/sessions/:sessionId',
  'DELETE /admin/users/:userId/sessions',
  'GET /admin/sessions',
  'GET /admin/users/:userId/events',
  'GET /admin/users/:userId/sessions',
  'POST /admin/users/:userId/deactivate',
  'POST /admin/users/:userId/reactivate',
];

describe('admin API (/admin)', () => {
  let t: TestApp;
  let admin: TestUser;
  let adminTokens: Tokens;

  beforeAll(async () => {
    // Sign-ins below come "from" chosen addresses through X-Forwarded-For, trusted from loopback only.
    t = await createTestApp({ env: { TRUST_PROXY: 'loopback' } });
    admin = await newUser(t.http);
    expect(await setUserRole(t.db.ownerUrl, admin.email, 'admin')).toMatchObject({ userId: admin.id, previousRole: 'user', role: 'admin' });
    adminTokens = await login(t.http, admin, { deviceName: 'Admin console' });
  });
  afterAll(() => t.close());

  async function loginFrom(user: TestUser, ip: string, userAgent = 'test-agent/1.0'): Promise<Tokens> {
    const res = await t.http.post('/auth/login').set('X-Forwarded-For', ip).set('User-Agent', userAgent).send({ email: user.email, password: user.password }).expect(200);
    return res.body as Tokens;
  }

  const events = (userId: string) =>
    t.db.asOwner(async (c) => (await c.query('select * from auth_events where user_id = $1 order by created_at, id', [userId])).rows);

  it('answers 401 without a token and 403 to a signed-in non-admin on every /admin route Nest serves, changing nothing', async () => {
    const routes = appRoutes(t.app).filter((r) => r.path === '/admin' || r.path.startsWith('/admin/'));
    // Guards the enumeration: the specified routes are all there (more may be, and are checked too).
    expect(routes.map((r) => r.key)).toEqual(expect.arrayContaining(SPECIFIED_ADMIN_ROUTES));
    expect(routes.filter((r) => r.isPublic)).toEqual([]);

    const target = await newUser(t.http);
    const targetTokens = await loginFrom(target, '198.51.100.99');
    const plain = await newUser(t.http);
    const plainTokens = await login(t.http, plain);
    const fill = (path: string) =>
      path.replace(':userId', target.id).replace(':sessionId', targetTokens.sessionId).replace(/:[A-Za-z]+/g, randomUUID());
    const method = (m: string) => m.toLowerCase() as 'get' | 'post' | 'delete' | 'patch' | 'put';

    const answers: string[] = [];
    for (const route of routes) {
      const url = `${fill(route.path)}${route.path === '/admin/sessions' ? '?ip=198.51.100.0/24' : ''}`;
      const anonymous = await t.http[method(route.method)](url);
      const signedIn = await t.http[method(route.method)](url).set(...bearer(plainTokens));
      answers.push(`${route.key}: ${anonymous.status} ${signedIn.status} ${signedIn.body.message}`);
    }
    expect(answers).toEqual(routes.map((r) => `${r.key}: 401 403 Admin role required`));

    // Nothing was revoked or deactivated by the refused calls.
    await t.http.get('/auth/me').set(...bearer(targetTokens)).expect(200);
    expect((await t.db.sessionRow(targetTokens.sessionId))?.is_revoked).toBe(false);
    expect((await events(target.id)).filter((e) => e.actor_id !== target.id).map((e) => e.type)).toEqual([]);
  });

  it('the database refuses the admin functions to a non-admin even when called directly, past any guard', async () => {
    const victim = await newUser(t.http);
    const victimTokens = await login(t.http, victim);
    const plain = await newUser(t.http);
    const refused = await t.db.asRuntime(async (c) => {
      await c.query('begin');
      await c.query("select set_config('app.current_user_id', $1, true)", [plain.id]);
      const err = await c
        .query("select admin_revoke_user_sessions($1, 'admin_action', now(), null, null, null)", [victim.id])
        .then(() => undefined, (e: { code?: string }) => e.code);
      await c.query('rollback');
      return err;
    });
    expect(refused).toBe('42501');
    const listed = await t.db.asRuntime(async (c) => {
      await c.query('begin');
      await c.query("select set_config('app.current_user_id', $1, true)", [plain.id]);
      const err = await c.query("select * from admin_list_sessions_by_ip('0.0.0.0/0', now(), null, null, 10)").then(() => undefined, (e: { code?: string }) => e.code);
      await c.query('rollback');
      return err;
    });
    expect(listed).toBe('42501');
    // And the role column is out of the runtime's reach: it can neither write it nor insert an admin.
    const escalation = await t.db.asRuntime(async (c) => {
      await c.query('begin');
      await c.query("select set_config('app.current_user_id', $1, true)", [plain.id]);
      const err = await c.query("update users set role = 'admin' where id = $1", [plain.id]).then(() => undefined, (e: { code?: string }) => e.code);
      await c.query('rollback');
      return err;
    });
    expect(escalation).toBe('42501');
    const insertAdmin = await t.db.asRuntime(async (c) => {
      const id = randomUUID();
      await c.query('begin');
      await c.query("select set_config('app.current_user_id', $1, true)", [id]);
      const err = await c
        .query("insert into users (id, email, password_hash, role) values ($1, $2, 'x', 'admin')", [id, `${id}@example.test`])
        .then(() => undefined, (e: { code?: string }) => e.code);
      await c.query('rollback');
      return err;
    });
    expect(insertAdmin).toBe('42501');
    await t.http.get('/auth/me').set(...bearer(victimTokens)).expect(200);
  });

  it("an admin lists B's sessions and revokes them: B's next request is 401, admin_action is stored, and the audit rows name the admin as actor", async () => {
    const b = await newUser(t.http);
    const phone = await loginFrom(b, '203.0.113.10', 'Phone/1.0');
    const laptop = await loginFrom(b, '203.0.113.11', 'Laptop/1.0');

    const listed = await t.http.get(`/admin/users/${b.id}/sessions`).set(...bearer(adminTokens)).expect(200);
    expect(listed.body.nextCursor).toBeNull();
    expect(listed.body.items.map((s: { id: string }) => s.id).sort()).toEqual([phone.sessionId, laptop.sessionId].sort());
    expect(listed.body.items[0]).toEqual({
      id: expect.any(String),
      userId: b.id,
      deviceName: null,
      deviceType: expect.any(String),
      userAgent: expect.stringMatching(/^(Phone|Laptop)\/1\.0$/),
      ipAddress: expect.stringMatching(/^203\.0\.113\.1[01]$/),
      createdAt: expect.any(String),
      lastUsedAt: expect.any(String),
      expiresAt: expect.any(String),
    });
    // No token material in the listing.
    const text = JSON.stringify(listed.body);
    for (const tokens of [phone, laptop]) {
      expect(text).not.toContain(tokens.refreshToken);
      expect(text).not.toContain(tokens.accessToken);
    }
    expect(text).not.toMatch(/hash/i);

    await t.http.get('/auth/me').set(...bearer(phone)).expect(200);
    const revoked = await t.http.delete(`/admin/users/${b.id}/sessions`).set(...bearer(adminTokens)).set('User-Agent', 'AdminConsole/2.0').expect(200);
    expect(revoked.body).toEqual({ revoked: 2 });

    // B's very next request with an unexpired access token: refused.
    await t.http.get('/auth/me').set(...bearer(phone)).expect(401);
    await t.http.get('/sessions').set(...bearer(laptop)).expect(401);
    await t.http.post('/auth/refresh').send({ refreshToken: laptop.refreshToken }).expect(401);
    for (const s of [phone, laptop]) expect(await t.db.sessionRow(s.sessionId)).toMatchObject({ is_revoked: true, revoked_reason: 'admin_action' });

    const audit = (await events(b.id)).filter((e) => e.type === 'session.revoked');
    expect(audit.map((e) => e.session_id).sort()).toEqual([phone.sessionId, laptop.sessionId].sort());
    for (const e of audit) expect(e).toMatchObject({ actor_id: admin.id, reason: 'admin_action', user_agent: 'AdminConsole/2.0', ip_address: '127.0.0.1' });

    // B sees the admin's action in their own log.
    const own = await t.http.get('/auth/events').set(...bearer(await login(t.http, b))).expect(200);
    expect(own.body.items.filter((e: { type: string; actorId: string }) => e.type === 'session.revoked' && e.actorId === admin.id)).toHaveLength(2);

    // The admin's own session is untouched.
    await t.http.get('/auth/me').set(...bearer(adminTokens)).expect(200);
  });

  it('DELETE /admin/sessions/{sessionId} revokes one session at once; unknown or already revoked ids are 404', async () => {
    const b = await newUser(t.http);
    const one = await login(t.http, b);
    const other = await login(t.http, b);
    await t.http.delete(`/admin/sessions/${one.sessionId}`).set(...bearer(adminTokens)).expect(204);
    await t.http.get('/auth/me').set(...bearer(one)).expect(401);
    await t.http.get('/auth/me').set(...bearer(other)).expect(200);
    expect(await t.db.sessionRow(one.sessionId)).toMatchObject({ is_revoked: true, revoked_reason: 'admin_action' });
    expect((await events(b.id)).filter((e) => e.type === 'session.revoked')).toEqual([
      expect.objectContaining({ session_id: one.sessionId, actor_id: admin.id, reason: 'admin_action' }),
    ]);
    await t.http.delete(`/admin/sessions/${one.sessionId}`).set(...bearer(adminTokens)).expect(404);
    await t.http.delete(`/admin/sessions/${randomUUID()}`).set(...bearer(adminTokens)).expect(404);
    await t.http.delete('/admin/sessions/not-a-uuid').set(...bearer(adminTokens)).expect(400);
  });

  it('npm run users:grant-admin makes an admin whose existing token works at once; after users:revoke-admin the same token gets 403 on its next request', async () => {
    const c = await newUser(t.http);
    const tokens = await login(t.http, c);
    await t.http.get(`/admin/users/${c.id}/sessions`).set(...bearer(tokens)).expect(403);

    const granted = await usersRoleCli(t.db.ownerUrl, 'grant-admin', c.email.toUpperCase());
    expect(granted).toEqual({ code: 0, out: expect.stringContaining(`${c.email} (${c.id}): user -> admin`) });
    await t.http.get(`/admin/users/${c.id}/sessions`).set(...bearer(tokens)).expect(200);

    const revoked = await usersRoleCli(t.db.ownerUrl, 'revoke-admin', c.email);
    expect(revoked).toEqual({ code: 0, out: expect.stringContaining('admin -> user') });
    const refused = await t.http.get(`/admin/users/${c.id}/sessions`).set(...bearer(tokens)).expect(403);
    expect(refused.body).toEqual({ statusCode: 403, message: 'Admin role required', error: 'Forbidden' });
    // Still a signed-in user everywhere else.
    await t.http.get('/auth/me').set(...bearer(tokens)).expect(200);

    expect((await events(c.id)).filter((e) => e.type === 'user.role_changed').map((e) => [e.reason, e.actor_id])).toEqual([
      ['admin', null],
      ['user', null],
    ]);
    expect(await usersRoleCli(t.db.ownerUrl, 'grant-admin', 'nobody@example.test')).toEqual({ code: 1, out: expect.stringContaining('No account') });
  }, 120_000);

  it('a deactivated admin is refused too (the database checks is_active as well as the role)', async () => {
    const d = await newUser(t.http);
    await setUserRole(t.db.ownerUrl, d.email, 'admin');
    const tokens = await login(t.http, d);
    await t.http.get(`/admin/users/${d.id}/events`).set(...bearer(tokens)).expect(200);
    await t.http.post(`/admin/users/${d.id}/deactivate`).set(...bearer(adminTokens)).expect(200);
    await t.http.get(`/admin/users/${d.id}/events`).set(...bearer(tokens)).expect(401);
    await t.http.post(`/admin/users/${d.id}/reactivate`).set(...bearer(adminTokens)).expect(200);
  });

  it('GET /admin/sessions?ip= with a CIDR finds the active sessions in it across users, page by page; DELETE revokes exactly those (suspicious_activity)', async () => {
    const [a, b, c] = [await newUser(t.http), await newUser(t.http), await newUser(t.http)];
    const inside = [await loginFrom(a, '192.0.2.10'), await loginFrom(b, '192.0.2.200'), await loginFrom(b, '192.0.2.10'), await loginFrom(c, '192.0.2.77')];
    const outside = [await loginFrom(a, '192.0.3.10'), await loginFrom(c, '198.18.0.1'), await loginFrom(b, '2001:db8::1')];
    const revokedInside = await loginFrom(c, '192.0.2.5');
    await t.http.delete(`/sessions/${revokedInside.sessionId}`).set(...bearer(revokedInside)).expect(204);

    const seen: Array<{ id: string; userId: string; ipAddress: string }> = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: { items: typeof seen; nextCursor: string | null } = (
        await t.http
          .get('/admin/sessions')
          .query({ ip: '192.0.2.0/24', limit: 3, ...(cursor ? { cursor } : {}) })
          .set(...bearer(adminTokens))
          .expect(200)
      ).body;
      seen.push(...page.items);
      cursor = page.nextCursor;
      pages++;
    } while (cursor && pages < 10);
    expect(pages).toBe(2);
    expect(seen.map((s) => s.id).sort()).toEqual(inside.map((s) => s.sessionId).sort());
    expect(new Set(seen.map((s) => s.userId))).toEqual(new Set([a.id, b.id, c.id]));
    // Ordered by address, then id.
    const order = seen.map((s) => s.ipAddress);
    expect(order).toEqual(['192.0.2.10', '192.0.2.10', '192.0.2.77', '192.0.2.200']);

    // A single address is a /32.
    const single = await t.http.get('/admin/sessions').query({ ip: '192.0.2.77' }).set(...bearer(adminTokens)).expect(200);
    expect(single.body.items.map((s: { id: string }) => s.id)).toEqual([inside[3].sessionId]);
    const v6 = await t.http.get('/admin/sessions').query({ ip: '2001:db8::/32' }).set(...bearer(adminTokens)).expect(200);
    expect(v6.body.items.map((s: { id: string }) => s.id)).toEqual([outside[2].sessionId]);

    const res = await t.http.delete('/admin/sessions').query({ ip: '192.0.2.0/24' }).set(...bearer(adminTokens)).expect(200);
    expect(res.body).toEqual({ revoked: 4 });
    for (const s of inside) {
      await t.http.get('/auth/me').set(...bearer(s)).expect(401);
      expect(await t.db.sessionRow(s.sessionId)).toMatchObject({ is_revoked: true, revoked_reason: 'suspicious_activity' });
    }
    for (const s of outside) await t.http.get('/auth/me').set(...bearer(s)).expect(200);
    expect(await t.db.sessionRow(revokedInside.sessionId)).toMatchObject({ revoked_reason: 'logout' });
    const audit = await t.db.asOwner(async (cl) =>
      (await cl.query("select session_id, actor_id, reason from auth_events where type = 'session.revoked' and reason = 'suspicious_activity'")).rows,
    );
    expect(audit.map((e) => e.session_id).sort()).toEqual(inside.map((s) => s.sessionId).sort());
    expect(audit.every((e) => e.actor_id === admin.id)).toBe(true);
  });

  it('deactivation revokes every session and blocks sign-in; reactivation lets the user sign in again; both are audited with the admin as actor', async () => {
    const u = await newUser(t.http);
    const s1 = await login(t.http, u);
    const s2 = await login(t.http, u);
    const off = await t.http.post(`/admin/users/${u.id}/deactivate`).set(...bearer(adminTokens)).expect(200);
    expect(off.body).toEqual({ id: u.id, email: u.email, role: 'user', isActive: false });
    for (const s of [s1, s2]) {
      await t.http.get('/auth/me').set(...bearer(s)).expect(401);
      expect(await t.db.sessionRow(s.sessionId)).toMatchObject({ is_revoked: true, revoked_reason: 'admin_action' });
    }
    await t.http.post('/auth/login').send({ email: u.email, password: u.password }).expect(401);
    // Deactivating again changes nothing and records nothing more.
    await t.http.post(`/admin/users/${u.id}/deactivate`).set(...bearer(adminTokens)).expect(200);

    const on = await t.http.post(`/admin/users/${u.id}/reactivate`).set(...bearer(adminTokens)).expect(200);
    expect(on.body).toMatchObject({ isActive: true });
    const again = await login(t.http, u);
    await t.http.get('/auth/me').set(...bearer(again)).expect(200);
    await t.http.get('/auth/me').set(...bearer(s1)).expect(401);

    // The deactivation's three rows share one timestamp (one transaction), so they are compared as a set.
    const audit = (await events(u.id)).filter((e) => e.actor_id === admin.id);
    expect(audit.map((e) => e.type).sort()).toEqual(['session.revoked', 'session.revoked', 'user.deactivated', 'user.reactivated']);
    expect(audit.filter((e) => e.type === 'session.revoked').map((e) => e.session_id).sort()).toEqual([s1.sessionId, s2.sessionId].sort());
    expect(audit[audit.length - 1].type).toBe('user.reactivated');
  });

  it("GET /admin/users/{userId}/events pages through a user's events, newest first, admin actions included", async () => {
    const u = await newUser(t.http);
    // One second between events, so "newest first" does not depend on how fast the requests ran.
    await login(t.http, u);
    t.clock.advance(1);
    await t.http.post('/auth/login').send({ email: u.email, password: 'wrong-password' }).expect(401);
    t.clock.advance(1);
    const s = await login(t.http, u);
    t.clock.advance(1);
    await t.http.delete(`/admin/sessions/${s.sessionId}`).set(...bearer(adminTokens)).expect(204);

    const types: string[] = [];
    const actors: Array<string | null> = [];
    let cursor: string | undefined;
    for (let i = 0; i < 10; i++) {
      const res = await t.http.get(`/admin/users/${u.id}/events`).query({ limit: 2, ...(cursor ? { cursor } : {}) }).set(...bearer(adminTokens)).expect(200);
      types.push(...res.body.items.map((e: { type: string }) => e.type));
      actors.push(...res.body.items.map((e: { actorId: string | null }) => e.actorId));
      cursor = res.body.nextCursor ?? undefined;
      if (!cursor) break;
    }
    expect(types).toEqual(['session.revoked', 'auth.login.succeeded', 'auth.login.failed', 'auth.login.succeeded']);
    expect(actors).toEqual([admin.id, u.id, null, u.id]);
  });

  it('answers 404 for unknown users, 400 for a bad ip or cursor (to an admin)', async () => {
    const nobody = randomUUID();
    await t.http.get(`/admin/users/${nobody}/sessions`).set(...bearer(adminTokens)).expect(404);
    await t.http.delete(`/admin/users/${nobody}/sessions`).set(...bearer(adminTokens)).expect(404);
    await t.http.post(`/admin/users/${nobody}/deactivate`).set(...bearer(adminTokens)).expect(404);
    await t.http.post(`/admin/users/${nobody}/reactivate`).set(...bearer(adminTokens)).expect(404);
    for (const ip of ['', 'nope', '10.0.0.0/33', '::1/129', 'fe80::1%eth0', '10.0.0.1; drop table users', '300.1.1.1']) {
      await t.http.get('/admin/sessions').query({ ip }).set(...bearer(adminTokens)).expect(400);
      await t.http.delete('/admin/sessions').query({ ip }).set(...bearer(adminTokens)).expect(400);
    }
    await t.http.get('/admin/sessions').set(...bearer(adminTokens)).expect(400);
    for (const cursor of ['!!', 'abc', Buffer.from('["x","y"]').toString('base64url'), Buffer.from('{"a":1}').toString('base64url'), 'A'.repeat(300)]) {
      await t.http.get(`/admin/users/${admin.id}/events`).query({ cursor }).set(...bearer(adminTokens)).expect(400);
      await t.http.get('/admin/sessions').query({ ip: '10.0.0.0/8', cursor }).set(...bearer(adminTokens)).expect(400);
    }
    for (const limit of ['0', '-1', '201', '1.5', 'x']) {
      await t.http.get(`/admin/users/${admin.id}/sessions`).query({ limit }).set(...bearer(adminTokens)).expect(400);
    }
  });
});
