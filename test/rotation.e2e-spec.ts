import { createHash } from 'node:crypto';
import { SessionsRepository } from '../src/sessions/sessions.repository';
import { bearer, newUser, Tokens } from './support/factories';
import { refreshClient, RefreshClient, transportEnv, TRANSPORTS } from './support/refresh-transport';
import { createTestApp, TestApp } from './support/test-app';

const GRACE_SECONDS = 10;

const sha256 = (token: string): string => createHash('sha256').update(token).digest('hex');

/** The same token with one character of its MAC changed (still well-formed base64url). */
function flipMacChar(token: string): string {
  const [payload, mac] = token.split('.');
  const i = Math.floor(mac.length / 2);
  const flipped = mac[i] === 'A' ? 'B' : 'A';
  return `${payload}.${mac.slice(0, i)}${flipped}${mac.slice(i + 1)}`;
}

// The same tests with the refresh token in JSON bodies and in the refresh-token cookie.
describe.each(TRANSPORTS)('refresh token rotation over HTTP (%s transport)', (transport) => {
  let t: TestApp;
  let client: RefreshClient;
  beforeAll(async () => {
    t = await createTestApp({ env: { REFRESH_GRACE_SECONDS: String(GRACE_SECONDS), ...transportEnv(transport) } });
    client = refreshClient(t.http, transport);
  });
  afterAll(() => t.close());

  const session = (id: string): Promise<Record<string, any>> => t.db.sessionRow(id) as Promise<Record<string, any>>;

  const refresh = (refreshToken: string, userAgent?: string) => client.refresh(refreshToken, userAgent);

  async function signIn(): Promise<Tokens> {
    return client.login(await newUser(t.http));
  }

  it('gives 20 concurrent refreshes of one token the same successor, rotating only once', async () => {
    const tokens = await signIn();
    // Fill the connection pool first, so the refreshes really overlap instead of queueing behind
    // new connections.
    await Promise.all(Array.from({ length: 20 }, () => t.http.get('/auth/me').set(...bearer(tokens)).expect(200)));
    const rotations = jest.spyOn(SessionsRepository.prototype, 'rotate');
    const responses = await Promise.all(Array.from({ length: 20 }, () => refresh(tokens.refreshToken)));
    const rotationCount = rotations.mock.calls.length;
    rotations.mockRestore();

    expect(responses.map((r) => r.status)).toEqual(Array(20).fill(200));
    const successors = new Set(responses.map((r) => r.body.refreshToken as string));
    expect(successors.size).toBe(1);
    const [successor] = successors;
    expect(successor).not.toBe(tokens.refreshToken);
    expect(responses.every((r) => r.body.sessionId === tokens.sessionId)).toBe(true);

    // One rotation: one UPDATE of the row, and it stores the successor's hash. (The successor is a
    // pure function of the token, so the hash alone could not tell one rotation from twenty.)
    expect(rotationCount).toBe(1);
    const row = await session(tokens.sessionId);
    expect(row.is_revoked).toBe(false);
    expect(row.refresh_token_hash).toBe(sha256(successor));

    // Every response's access token works, and the successor rotates normally afterwards.
    for (const r of responses) await t.http.get('/auth/me').set(...bearer(r.body)).expect(200);
    const next = await refresh(successor).expect(200);
    expect(next.body.refreshToken).not.toBe(successor);
    await t.http.get('/sessions').set(...bearer(next.body)).expect(200);
    expect((await session(tokens.sessionId)).refresh_token_hash).toBe(sha256(next.body.refreshToken));
  });

  it('repeats the same successor for the just-rotated token within the grace window, without revoking', async () => {
    const tokens = await signIn();
    const first = await refresh(tokens.refreshToken).expect(200);
    const hashAfterFirst = (await session(tokens.sessionId)).refresh_token_hash;

    t.clock.advance(GRACE_SECONDS - 2);
    const repeat = await refresh(tokens.refreshToken).expect(200);
    expect(repeat.body.refreshToken).toBe(first.body.refreshToken);

    const row = await session(tokens.sessionId);
    expect(row).toMatchObject({ is_revoked: false, revoked_reason: null, refresh_token_hash: hashAfterFirst });
    await t.http.get('/auth/me').set(...bearer(repeat.body)).expect(200);
    await refresh(first.body.refreshToken).expect(200);
  });

  it('logs a grace replay as auth.refresh.grace_replay, naming the session (and never a token)', async () => {
    const tokens = await signIn();
    await refresh(tokens.refreshToken).expect(200);
    await refresh(tokens.refreshToken).expect(200);
    const events = t.logs.entries().filter((e) => e.event === 'auth.refresh.grace_replay' && e.sessionId === tokens.sessionId);
    expect(events).toEqual([expect.objectContaining({ userId: expect.any(String), sessionId: tokens.sessionId })]);
    expect(JSON.stringify(events)).not.toContain(tokens.refreshToken.split('.')[1]);
  });

  it('stores the refreshing client’s User-Agent with each rotation', async () => {
    const tokens = await client.login(await newUser(t.http), { userAgent: 'SignInBrowser/1.0' });
    expect((await session(tokens.sessionId)).user_agent).toBe('SignInBrowser/1.0');
    await refresh(tokens.refreshToken, 'SignInBrowser/2.0 (updated)').expect(200);
    expect((await session(tokens.sessionId)).user_agent).toBe('SignInBrowser/2.0 (updated)');
  });

  it('treats a grace replay from another User-Agent than the rotation it replays as reuse: 401, session revoked', async () => {
    const stolen = await client.login(await newUser(t.http), { userAgent: 'OwnersBrowser/1.0' });
    const owner = await refresh(stolen.refreshToken, 'OwnersBrowser/1.0').expect(200);
    // Another tab of the same browser converges on the same successor …
    const tab = await refresh(stolen.refreshToken, 'OwnersBrowser/1.0').expect(200);
    expect(tab.body.refreshToken).toBe(owner.body.refreshToken);
    // … a replay of the same token from elsewhere within the window does not.
    const thief = await refresh(stolen.refreshToken, 'curl/8.5.0').expect(401);
    expect(thief.body).toEqual({ statusCode: 401, message: 'Invalid or expired refresh token', error: 'Unauthorized' });
    expect(await session(stolen.sessionId)).toMatchObject({ is_revoked: true, revoked_reason: 'refresh_token_reuse' });
    await refresh(owner.body.refreshToken).expect(401);
    expect(t.logs.entries()).toContainEqual(
      expect.objectContaining({ event: 'auth.refresh.reuse_detected', sessionId: stolen.sessionId, detail: 'grace_replay_from_another_user_agent' }),
    );
  });

  it('treats a rotated token replayed after the grace window as reuse: 401, session revoked, every token dead', async () => {
    const stolen = await signIn();
    const owner = await refresh(stolen.refreshToken).expect(200);
    await t.http.get('/auth/me').set(...bearer(owner.body)).expect(200);

    t.clock.advance(GRACE_SECONDS + 1);
    const replay = await refresh(stolen.refreshToken).expect(401);
    expect(replay.body).toEqual({ statusCode: 401, message: 'Invalid or expired refresh token', error: 'Unauthorized' });

    const row = await session(stolen.sessionId);
    expect(row).toMatchObject({ is_revoked: true, revoked_reason: 'refresh_token_reuse' });
    expect(row.revoked_at).toBeInstanceOf(Date);

    await refresh(stolen.refreshToken).expect(401);
    await refresh(owner.body.refreshToken).expect(401);
    await t.http.get('/auth/me').set(...bearer(owner.body)).expect(401);
    await t.http.get('/auth/me').set(...bearer(stolen)).expect(401);
    expect((await session(stolen.sessionId)).revoked_reason).toBe('refresh_token_reuse');
  });

  it('treats a token two generations old as reuse even within the grace window', async () => {
    const gen0 = await signIn();
    const gen1 = await refresh(gen0.refreshToken).expect(200);
    const gen2 = await refresh(gen1.body.refreshToken).expect(200);

    await refresh(gen0.refreshToken).expect(401);

    expect(await session(gen0.sessionId)).toMatchObject({ is_revoked: true, revoked_reason: 'refresh_token_reuse' });
    await refresh(gen2.body.refreshToken).expect(401);
    await t.http.get('/auth/me').set(...bearer(gen2.body)).expect(401);
  });

  it('rejects a forged token (one MAC character changed) with 401 and leaves the session alone', async () => {
    const tokens = await signIn();
    const before = await session(tokens.sessionId);

    const forged = flipMacChar(tokens.refreshToken);
    expect(forged).not.toBe(tokens.refreshToken);
    const res = await refresh(forged).expect(401);
    expect(res.body).toEqual({ statusCode: 401, message: 'Invalid or expired refresh token', error: 'Unauthorized' });
    await refresh(`${tokens.refreshToken}x`).expect(401);
    await refresh('garbage').expect(401);

    expect(await session(tokens.sessionId)).toEqual(before);
    await t.http.get('/auth/me').set(...bearer(tokens)).expect(200);
    await refresh(tokens.refreshToken).expect(200);
  });
});
