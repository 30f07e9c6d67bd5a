import { createHash, randomBytes } from 'node:crypto';
import type { Response } from 'supertest';
import { uniqueEmail } from './support/factories';
import { createTestApp, TestApp } from './support/test-app';

const sha256 = (token: string): string => createHash('sha256').update(token).digest('hex');

describe('secrets never leave through responses or logs', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: { REFRESH_GRACE_SECONDS: '5' } });
  });
  afterAll(() => t.close());

  it('keeps hashes out of every response, and tokens, hashes and passwords out of every log line, over a full flow', async () => {
    const responses: Response[] = [];
    const record = async (req: PromiseLike<Response>, status: number): Promise<Response> => {
      const res = await req;
      responses.push(res);
      expect(res.status).toBe(status);
      return res;
    };
    const auth = (accessToken: string): [string, string] => ['Authorization', `Bearer ${accessToken}`];

    const email = uniqueEmail('secrets');
    const password = `First-Pass-${randomBytes(8).toString('hex')}`;
    const newPassword = `Second-Pass-${randomBytes(8).toString('hex')}`;
    const wrongPassword = `Wrong-Pass-${randomBytes(8).toString('hex')}`;
    const refreshTokens: string[] = [];
    const accessTokens: string[] = [];
    const keep = (res: Response): Response => {
      if (res.body.refreshToken) refreshTokens.push(res.body.refreshToken);
      if (res.body.accessToken) accessTokens.push(res.body.accessToken);
      return res;
    };

    const registered = await record(t.http.post('/auth/register').send({ email, password, displayName: 'Sam' }), 201);
    const userId = registered.body.id as string;
    const firstPasswordHash = await t.db.asOwner(
      async (c) => (await c.query('select password_hash from users where id = $1', [userId])).rows[0].password_hash as string,
    );

    const laptop = keep(await record(t.http.post('/auth/login').send({ email, password, deviceName: 'Laptop' }), 200)).body;
    const phone = keep(await record(t.http.post('/auth/login').send({ email, password, deviceType: 'mobile' }), 200)).body;
    const victim = keep(await record(t.http.post('/auth/login').send({ email, password }), 200)).body;
    const rotated = keep(await record(t.http.post('/auth/refresh').send({ refreshToken: laptop.refreshToken }), 200)).body;

    await record(t.http.get('/sessions').set(...auth(rotated.accessToken)), 200);
    await record(t.http.get(`/sessions/${phone.sessionId}`).set(...auth(rotated.accessToken)), 200);
    await record(t.http.patch(`/sessions/${rotated.sessionId}`).set(...auth(rotated.accessToken)).send({ deviceName: 'Work' }), 200);
    await record(t.http.get('/auth/me').set(...auth(rotated.accessToken)), 200);

    // Reuse detection: the victim session's first token replayed after the grace window.
    keep(await record(t.http.post('/auth/refresh').send({ refreshToken: victim.refreshToken }), 200));
    t.clock.advance(6);
    await record(t.http.post('/auth/refresh').send({ refreshToken: victim.refreshToken }), 401);

    await record(t.http.post('/auth/login').send({ email, password: wrongPassword }), 401);
    await record(t.http.post('/auth/login').send({ email: uniqueEmail('nobody'), password: wrongPassword }), 401);
    await record(
      t.http.post('/auth/password').set(...auth(rotated.accessToken)).send({ currentPassword: wrongPassword, newPassword }),
      401,
    );
    await record(t.http.post('/auth/password').set(...auth(rotated.accessToken)).send({ currentPassword: password, newPassword }), 204);
    await record(t.http.get('/sessions').set(...auth(phone.accessToken)), 401);
    await record(t.http.post('/auth/register').send({ email, password: newPassword }), 409);
    await record(t.http.post('/auth/logout').set(...auth(rotated.accessToken)), 204);
    await record(t.http.post('/auth/refresh').send({ refreshToken: rotated.refreshToken }), 401);
    keep(await record(t.http.post('/auth/login').send({ email, password: newPassword }), 200));

    const db = await t.db.asOwner(async (c) => ({
      sessionHashes: (await c.query('select refresh_token_hash from sessions where user_id = $1', [userId])).rows.map(
        (r) => r.refresh_token_hash as string,
      ),
      passwordHash: (await c.query('select password_hash from users where id = $1', [userId])).rows[0].password_hash as string,
    }));
    expect(db.sessionHashes).toHaveLength(4);
    expect(db.passwordHash).not.toBe(firstPasswordHash);

    const hashes = [...new Set([...db.sessionHashes, ...refreshTokens.map(sha256), firstPasswordHash, db.passwordHash])];
    const passwords = [password, newPassword, wrongPassword];
    // Whole tokens, and the secret halves on their own: a refresh token's MAC, a JWT's signature.
    const tokens = [
      ...refreshTokens,
      ...refreshTokens.map((tok) => tok.split('.')[1]),
      ...accessTokens,
      ...accessTokens.map((tok) => tok.split('.')[2]),
    ];
    expect(refreshTokens.length).toBeGreaterThanOrEqual(6);
    expect(accessTokens.length).toBe(refreshTokens.length);

    expect(responses.length).toBeGreaterThanOrEqual(18);
    for (const res of responses) {
      const text = `${res.text ?? ''}\n${JSON.stringify(res.headers)}`;
      for (const hash of hashes) expect(text).not.toContain(hash);
      for (const word of ['refreshTokenHash', 'refresh_token_hash', 'passwordHash', 'password_hash', '$2b$', '$2a$']) {
        expect(text).not.toContain(word);
      }
      for (const pw of passwords) expect(text).not.toContain(pw);
    }

    const logs = t.logs.lines.join('\n');
    expect(logs).toContain('Refresh token reuse detected');
    expect(logs).toContain('Login failed');
    for (const secret of [...tokens, ...hashes, ...passwords]) expect(logs).not.toContain(secret);
    expect(logs).not.toContain('$2b$');
  });
});
