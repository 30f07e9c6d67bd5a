import { createHash } from 'node:crypto';
import { AppErrorCode } from '../src/core/app.exception';
import { RlsContext } from '../src/database/rls.context';
import { RefreshTokenCodec } from '../src/sessions/refresh-token';
import { SessionsRepository } from '../src/sessions/sessions.repository';
import { createServiceContext, ServiceContext } from './support/service-context';

/**
 * Refresh-token rotation and reuse detection, pinned at the service: the real SessionsService and
 * AuthService from the real AuthModule, on a migrated PostgreSQL as the RLS-bound runtime role, with a
 * clock that moves only when a test moves it (so window edges are hit to the millisecond). No HTTP:
 * test/rotation.e2e-spec.ts and test/lifetimes.e2e-spec.ts prove the same promises over the wire.
 */

const GRACE_SECONDS = 10;
const REFRESH_TTL_SECONDS = 2 * 3600;
const IDLE_TIMEOUT_SECONDS = 3600;
const ABSOLUTE_LIFETIME_SECONDS = 3 * 3600;
const MS = 1 / 1000;

const sha256 = (token: string): string => createHash('sha256').update(token).digest('hex');
const failure = (code: AppErrorCode) => expect.objectContaining({ code });

describe('SessionsService: refresh-token rotation and reuse (real PostgreSQL, manual clock)', () => {
  let ctx: ServiceContext;
  let codec: RefreshTokenCodec;

  beforeAll(async () => {
    ctx = await createServiceContext({
      refreshToken: { ttlSeconds: REFRESH_TTL_SECONDS, graceSeconds: GRACE_SECONDS },
      sessions: { idleTimeoutSeconds: IDLE_TIMEOUT_SECONDS, absoluteLifetimeSeconds: ABSOLUTE_LIFETIME_SECONDS },
    });
    codec = ctx.get(RefreshTokenCodec);
  });
  afterAll(() => ctx?.close());
  afterEach(() => jest.restoreAllMocks());

  /** A fresh account with one session, opened from `userAgent`. */
  async function signedIn(userAgent: string | null = 'Browser/1.0') {
    const user = await ctx.newUser();
    const { session, refreshToken } = await ctx.newSession(user.id, { userAgent });
    return { userId: user.id, sessionId: session.id, token: refreshToken };
  }

  describe('rotation', () => {
    it('issues the next generation of the token and stores only its hash, with the new last use, expiry and User-Agent', async () => {
      const { userId, sessionId, token } = await signedIn('Browser/1.0');
      const opened = await ctx.sessionRow(sessionId);
      expect(opened.refresh_token_hash).toBe(sha256(token));

      ctx.clock.advance(60);
      const { session, refreshToken: next } = await ctx.sessions.rotate(token, { userAgent: 'Browser/1.1' });

      expect(session).toMatchObject({ id: sessionId, userId });
      expect(next).not.toBe(token);
      expect(codec.parse(next)).toEqual({ ...codec.parse(token), generation: 1 });
      const now = ctx.clock.now();
      const row = await ctx.sessionRow(sessionId);
      expect(row).toMatchObject({
        refresh_token_hash: sha256(next),
        last_used_at: now,
        expires_at: new Date(now.getTime() + REFRESH_TTL_SECONDS * 1000),
        created_at: opened.created_at,
        user_agent: 'Browser/1.1',
        is_revoked: false,
        revoked_reason: null,
      });
      expect(Object.values(row)).not.toContain(next);
      expect(Object.values(row)).not.toContain(token);
    });

    it('keeps the stored User-Agent when the caller passes no client (a host’s own call)', async () => {
      const { sessionId, token } = await signedIn('Browser/1.0');
      const { refreshToken: next } = await ctx.sessions.rotate(token);
      expect(await ctx.sessionRow(sessionId)).toMatchObject({ refresh_token_hash: sha256(next), user_agent: 'Browser/1.0' });
    });

    it('gives 10 concurrent refreshes of one token the same successor, rotating the row once', async () => {
      const { userId, sessionId, token } = await signedIn('Tab/1.0');
      // Open the pool's connections first, so the refreshes really overlap instead of queueing behind
      // new connections.
      const rls = ctx.get(RlsContext);
      await Promise.all(Array.from({ length: 10 }, () => rls.runAsUser(userId, () => ctx.sessions.list(sessionId))));
      const rotations = jest.spyOn(SessionsRepository.prototype, 'rotate');

      const results = await Promise.all(Array.from({ length: 10 }, () => ctx.sessions.rotate(token, { userAgent: 'Tab/1.0' })));

      const successors = new Set(results.map((r) => r.refreshToken));
      expect(successors.size).toBe(1);
      const [successor] = successors;
      expect(successor).not.toBe(token);
      expect(rotations).toHaveBeenCalledTimes(1);
      expect(await ctx.sessionRow(sessionId)).toMatchObject({ refresh_token_hash: sha256(successor), is_revoked: false });
      expect(ctx.events.filter((e) => e.event === 'auth.refresh.grace_replay' && e.sessionId === sessionId)).toHaveLength(9);
    });

    it('returns the same successor to a replay at the last millisecond of the grace window, without rotating or revoking', async () => {
      const { sessionId, token } = await signedIn('Tab/1.0');
      const { refreshToken: successor } = await ctx.sessions.rotate(token, { userAgent: 'Tab/1.0' });
      const rotated = await ctx.sessionRow(sessionId);

      ctx.clock.advance(GRACE_SECONDS);
      const replay = await ctx.sessions.rotate(token, { userAgent: 'Tab/1.0' });

      expect(replay.refreshToken).toBe(successor);
      expect(await ctx.sessionRow(sessionId)).toEqual(rotated);
      // The successor itself rotates on as usual.
      const next = await ctx.sessions.rotate(successor, { userAgent: 'Tab/1.0' });
      expect(codec.parse(next.refreshToken)?.generation).toBe(2);
    });

    it('returns the successor to a replay within the grace window from a host’s own call (no client to compare)', async () => {
      const { token } = await signedIn('Tab/1.0');
      const { refreshToken: successor } = await ctx.sessions.rotate(token, { userAgent: 'Tab/1.0' });
      await expect(ctx.sessions.rotate(token)).resolves.toMatchObject({ refreshToken: successor });
    });

    it('answers AuthService.refresh with the successor and an access token for the same session', async () => {
      const { userId, sessionId, token } = await signedIn();
      const tokens = await ctx.auth.refresh(token, { userAgent: 'Browser/1.0' });
      expect(tokens).toMatchObject({ tokenType: 'Bearer', sessionId, refreshToken: codec.issue({ ...codec.parse(token)!, generation: 1 }) });
      const claims = JSON.parse(Buffer.from(tokens.accessToken.split('.')[1], 'base64url').toString('utf8'));
      expect(claims).toMatchObject({ sub: userId, sid: sessionId });
    });
  });

  describe('reuse', () => {
    it('revokes the session (refresh_token_reuse) when a rotated token is replayed 1 ms after the grace window, and every token of it dies', async () => {
      const { userId, sessionId, token } = await signedIn('Tab/1.0');
      const { refreshToken: successor } = await ctx.sessions.rotate(token, { userAgent: 'Tab/1.0' });

      ctx.clock.advance(GRACE_SECONDS + MS);
      await expect(ctx.sessions.rotate(token, { userAgent: 'Tab/1.0' })).rejects.toEqual(failure(AppErrorCode.REFRESH_TOKEN_REUSED));

      // Committed although the call failed.
      expect(await ctx.sessionRow(sessionId)).toMatchObject({ is_revoked: true, revoked_reason: 'refresh_token_reuse', revoked_at: ctx.clock.now() });
      expect(ctx.events).toContainEqual(
        expect.objectContaining({ level: 'warn', event: 'auth.refresh.reuse_detected', userId, sessionId, detail: 'rotated_token_replayed' }),
      );
      await expect(ctx.sessions.rotate(successor, { userAgent: 'Tab/1.0' })).rejects.toEqual(failure(AppErrorCode.INVALID_REFRESH_TOKEN));
      await expect(ctx.sessions.rotate(token, { userAgent: 'Tab/1.0' })).rejects.toEqual(failure(AppErrorCode.INVALID_REFRESH_TOKEN));
    });

    it('counts a replay within the grace window from another User-Agent than the rotation’s as reuse', async () => {
      const { sessionId, token } = await signedIn('OwnersBrowser/1.0');
      const { refreshToken: successor } = await ctx.sessions.rotate(token, { userAgent: 'OwnersBrowser/1.0' });

      ctx.clock.advance(1);
      await expect(ctx.sessions.rotate(token, { userAgent: 'curl/8.5.0' })).rejects.toEqual(failure(AppErrorCode.REFRESH_TOKEN_REUSED));

      expect(await ctx.sessionRow(sessionId)).toMatchObject({ is_revoked: true, revoked_reason: 'refresh_token_reuse' });
      expect(ctx.events).toContainEqual(
        expect.objectContaining({ event: 'auth.refresh.reuse_detected', sessionId, detail: 'grace_replay_from_another_user_agent' }),
      );
      await expect(ctx.sessions.rotate(successor, { userAgent: 'OwnersBrowser/1.0' })).rejects.toEqual(failure(AppErrorCode.INVALID_REFRESH_TOKEN));
    });

    it('counts a replay without a User-Agent, of a rotation that stored one, as reuse', async () => {
      const { sessionId, token } = await signedIn('OwnersBrowser/1.0');
      await ctx.sessions.rotate(token, { userAgent: 'OwnersBrowser/1.0' });
      await expect(ctx.sessions.rotate(token, { userAgent: null })).rejects.toEqual(failure(AppErrorCode.REFRESH_TOKEN_REUSED));
      expect(await ctx.sessionRow(sessionId)).toMatchObject({ is_revoked: true, revoked_reason: 'refresh_token_reuse' });
    });

    it('counts a token two generations old as reuse, even within the grace window', async () => {
      const { sessionId, token: gen0 } = await signedIn('Tab/1.0');
      const gen1 = (await ctx.sessions.rotate(gen0, { userAgent: 'Tab/1.0' })).refreshToken;
      const gen2 = (await ctx.sessions.rotate(gen1, { userAgent: 'Tab/1.0' })).refreshToken;

      await expect(ctx.sessions.rotate(gen0, { userAgent: 'Tab/1.0' })).rejects.toEqual(failure(AppErrorCode.REFRESH_TOKEN_REUSED));

      expect(await ctx.sessionRow(sessionId)).toMatchObject({ is_revoked: true, revoked_reason: 'refresh_token_reuse' });
      await expect(ctx.sessions.rotate(gen2, { userAgent: 'Tab/1.0' })).rejects.toEqual(failure(AppErrorCode.INVALID_REFRESH_TOKEN));
    });

    it('refuses a forged token (MAC altered) before any database work, leaving the session alone', async () => {
      const { sessionId, token } = await signedIn();
      const before = await ctx.sessionRow(sessionId);
      const lookups = jest.spyOn(SessionsRepository.prototype, 'lockForRefresh');
      const [payload, mac] = token.split('.');
      const forged = `${payload}.${mac[0] === 'A' ? 'B' : 'A'}${mac.slice(1)}`;

      await expect(ctx.sessions.rotate(forged)).rejects.toEqual(failure(AppErrorCode.INVALID_REFRESH_TOKEN));

      expect(lookups).not.toHaveBeenCalled();
      expect(await ctx.sessionRow(sessionId)).toEqual(before);
    });
  });

  describe('sessions that may no longer refresh', () => {
    it('revokes an idle session (idle_timeout) when it is refreshed at the idle timeout, and not 1 ms before', async () => {
      const early = await signedIn();
      const late = await signedIn();
      ctx.clock.advance(IDLE_TIMEOUT_SECONDS - MS);
      await expect(ctx.sessions.rotate(early.token)).resolves.toBeDefined();

      ctx.clock.advance(MS);
      await expect(ctx.sessions.rotate(late.token)).rejects.toEqual(failure(AppErrorCode.INVALID_REFRESH_TOKEN));

      expect(await ctx.sessionRow(late.sessionId)).toMatchObject({ is_revoked: true, revoked_reason: 'idle_timeout', revoked_at: ctx.clock.now() });
      expect(ctx.events).toContainEqual(expect.objectContaining({ event: 'session.revoked', sessionId: late.sessionId, reason: 'idle_timeout' }));
    });

    it('never extends expires_at past the absolute lifetime, and refuses the refresh once it is reached, changing nothing', async () => {
      const { sessionId, token } = await signedIn();
      const createdAt = (await ctx.sessionRow(sessionId)).created_at as Date;
      const absoluteEnd = new Date(createdAt.getTime() + ABSOLUTE_LIFETIME_SECONDS * 1000);
      let current = token;
      // Refreshed every 50 minutes: never idle, but the sliding expiry soon meets the absolute one.
      for (let i = 0; i < 3; i++) {
        ctx.clock.advance(50 * 60);
        current = (await ctx.sessions.rotate(current)).refreshToken;
        const expected = Math.min(ctx.clock.now().getTime() + REFRESH_TTL_SECONDS * 1000, absoluteEnd.getTime());
        expect((await ctx.sessionRow(sessionId)).expires_at).toEqual(new Date(expected));
      }
      expect((await ctx.sessionRow(sessionId)).expires_at).toEqual(absoluteEnd);

      ctx.clock.advance(absoluteEnd.getTime() / 1000 - ctx.clock.now().getTime() / 1000);
      const expired = await ctx.sessionRow(sessionId);
      await expect(ctx.sessions.rotate(current)).rejects.toEqual(failure(AppErrorCode.INVALID_REFRESH_TOKEN));
      expect(await ctx.sessionRow(sessionId)).toEqual(expired);
    });

    type Me = { userId: string; sessionId: string };
    it.each<[string, (me: Me, otherSessionId: string) => Promise<unknown>]>([
      ['logout', (me) => ctx.sessions.logout(me)],
      ['user_revoked', (me, other) => ctx.sessions.revoke(me.sessionId, { userId: me.userId, sessionId: other })],
      ['password_change', (me, other) => ctx.sessions.revokeAll({ userId: me.userId, sessionId: other }, false, 'password_change')],
    ])('refuses to refresh a session revoked with reason %s, changing nothing', async (reason, revoke) => {
      const { userId, sessionId, token } = await signedIn();
      const other = await ctx.newSession(userId);
      // As inside a request of the user's (the revoking calls run in its RLS transaction).
      await ctx.get(RlsContext).runAsUser(userId, () => revoke({ userId, sessionId }, other.session.id));
      const revoked = await ctx.sessionRow(sessionId);
      expect(revoked).toMatchObject({ is_revoked: true, revoked_reason: reason });

      await expect(ctx.sessions.rotate(token)).rejects.toEqual(failure(AppErrorCode.INVALID_REFRESH_TOKEN));
      expect(await ctx.sessionRow(sessionId)).toEqual(revoked);
    });

    it('refuses to refresh a session of a deactivated account, changing nothing', async () => {
      const { userId, sessionId, token } = await signedIn();
      await ctx.db.asOwner((c) => c.query('update users set is_active = false where id = $1', [userId]));
      const before = await ctx.sessionRow(sessionId);
      await expect(ctx.sessions.rotate(token)).rejects.toEqual(failure(AppErrorCode.INVALID_REFRESH_TOKEN));
      expect(await ctx.sessionRow(sessionId)).toEqual(before);
    });
  });
});
