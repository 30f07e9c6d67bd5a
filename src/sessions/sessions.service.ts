import { Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { InjectRepository } from '@mikro-orm/nestjs';
import { AuditLogService } from '../audit/audit-log.service';
import { AppErrorCode, AppException } from '../core/app.exception';
import { AuthSettings } from '../core/settings';
import { Clock } from '../core/clock';
import { RlsContext } from '../database/rls.context';
import { DeviceInfo } from './device';
import { RefreshTokenCodec } from './refresh-token';
import { Session } from './session.entity';
import { SessionDto, toSessionDto } from './session.dto';
import { SessionsRepository } from './sessions.repository';
import { SecurityEvent } from '../core/security-event';

export interface IssuedSession {
  session: Pick<Session, 'id' | 'userId'>;
  /** The refresh token to hand to the client (only its hash is stored). */
  refreshToken: string;
  /** When that refresh token stops working (the session's `expires_at`), if nothing revokes it first. */
  expiresAt: Date;
}

const SECOND = 1000;

@Injectable()
export class SessionsService {
  private readonly logger = new Logger('Sessions');

  constructor(
    @InjectRepository(Session) private readonly sessions: SessionsRepository,
    private readonly tokens: RefreshTokenCodec,
    private readonly rls: RlsContext,
    private readonly clock: Clock,
    private readonly config: AuthSettings,
    private readonly audit: AuditLogService,
  ) {}

  /**
   * Opens a session for a user who has just proven who they are, within the session cap
   * (SESSION_MAX_PER_USER / SESSION_LIMIT_POLICY) when one is set.
   */
  async open(userId: string, device: DeviceInfo): Promise<IssuedSession> {
    const now = this.clock.now();
    const id = randomUUID();
    const refreshToken = this.tokens.issue({ userId, sessionId: id, generation: 0 });
    const expiresAt = this.nextExpiry(now, now);
    return this.rls.runAsUser(userId, async () => {
      await this.enforceSessionCap(userId, now, device);
      await this.sessions.insertSession({ id, userId, refreshTokenHash: this.tokens.hash(refreshToken), createdAt: now, expiresAt, ...device });
      // Not read back: the caller needs only the ids and the expiry, and every value of the row is known here.
      return { session: { id, userId }, refreshToken, expiresAt };
    });
  }

  /**
   * Rotates a refresh token. Refreshes of one session are serialised on its row (SELECT … FOR
   * UPDATE). The just-rotated token, presented again within the grace window, gets the same
   * successor without a second rotation (concurrent tabs converge), logged as
   * `auth.refresh.grace_replay`; any other earlier token of the session is reuse and revokes the
   * session (committed, though the call fails).
   *
   * `client.userAgent` (the refreshing client's User-Agent) is stored with each rotation that sends
   * one, and a grace replay from another User-Agent than the last one stored (none counts as another)
   * is treated as reuse: the tabs of one browser send the same one, a thief replaying a stolen token
   * within the window most likely does not. Leave `client` out (a host's own call) to neither store
   * nor compare it.
   */
  async rotate(refreshToken: string, client?: { userAgent: string | null }): Promise<IssuedSession> {
    const claims = this.tokens.parse(refreshToken);
    if (!claims) throw new AppException(AppErrorCode.INVALID_REFRESH_TOKEN);
    const { refreshToken: tokenSettings, sessions } = this.config;
    return this.rls.runAsUser(claims.userId, async () => {
      const locked = await this.sessions.lockForRefresh(claims.sessionId);
      if (!locked || !locked.userActive || locked.session.userId !== claims.userId || locked.session.isRevoked) {
        throw new AppException(AppErrorCode.INVALID_REFRESH_TOKEN);
      }
      const { session } = locked;
      const now = this.clock.now();
      if (this.tokens.sameHash(this.tokens.hash(refreshToken), session.refreshTokenHash)) {
        if (session.expiresAt.getTime() <= now.getTime()) throw new AppException(AppErrorCode.INVALID_REFRESH_TOKEN);
        if (session.lastUsedAt.getTime() + sessions.idleTimeoutSeconds * SECOND <= now.getTime()) {
          await this.sessions.revoke(session.id, 'idle_timeout', now);
          this.logger.log(new SecurityEvent({ msg: 'Session revoked', event: 'session.revoked', userId: session.userId, sessionId: session.id, reason: 'idle_timeout' }));
          await this.audit.record({ type: 'session.revoked', userId: session.userId, actorId: null, sessionId: session.id, reason: 'idle_timeout', ...client });
          throw new AppException(AppErrorCode.INVALID_REFRESH_TOKEN, { commit: true });
        }
        const next = this.tokens.issue({ ...claims, generation: claims.generation + 1 });
        const change = { refreshTokenHash: this.tokens.hash(next), lastUsedAt: now, expiresAt: this.nextExpiry(session.createdAt, now), ...client };
        // Written with one UPDATE; the loaded entity is left as read (changing it would make the
        // transaction's flush send the same UPDATE again).
        await this.sessions.rotate(session.id, change);
        return { session, refreshToken: next, expiresAt: change.expiresAt };
      }
      const successor = this.tokens.issue({ ...claims, generation: claims.generation + 1 });
      const withinGrace = now.getTime() - session.lastUsedAt.getTime() <= tokenSettings.graceSeconds * SECOND;
      if (withinGrace && session.expiresAt > now && this.tokens.sameHash(this.tokens.hash(successor), session.refreshTokenHash)) {
        const sameClient = client === undefined || client.userAgent === session.userAgent;
        if (sameClient) {
          this.logger.log(new SecurityEvent({ msg: 'Refresh token replayed within the grace window', event: 'auth.refresh.grace_replay', userId: session.userId, sessionId: session.id }));
          return { session, refreshToken: successor, expiresAt: session.expiresAt };
        }
      }
      await this.sessions.revoke(session.id, 'refresh_token_reuse', now);
      const detail = withinGrace ? 'grace_replay_from_another_user_agent' : 'rotated_token_replayed';
      this.logger.warn(new SecurityEvent({ msg: 'Refresh token reuse detected; session revoked', event: 'auth.refresh.reuse_detected', userId: session.userId, sessionId: session.id, reason: 'refresh_token_reuse', detail }));
      const reuse = { userId: session.userId, actorId: null, sessionId: session.id, reason: 'refresh_token_reuse', ...client };
      await this.audit.record({ type: 'auth.refresh.reuse_detected', ...reuse, detail }, { type: 'session.revoked', ...reuse });
      throw new AppException(AppErrorCode.REFRESH_TOKEN_REUSED, { commit: true });
    });
  }

  /** Throws 401 unless the session is still active (called inside the request's RLS transaction). */
  async assertActive(sessionId: string): Promise<void> {
    if (!(await this.sessions.isActive(sessionId, this.clock.now()))) throw new AppException(AppErrorCode.SESSION_INACTIVE);
  }

  async list(currentSessionId: string): Promise<SessionDto[]> {
    const sessions = await this.sessions.listActive(this.clock.now());
    return sessions.map((s) => toSessionDto(s, currentSessionId));
  }

  async get(id: string, currentSessionId: string): Promise<SessionDto> {
    const session = await this.sessions.findActive(id, this.clock.now());
    if (!session) throw new AppException(AppErrorCode.SESSION_NOT_FOUND);
    return toSessionDto(session, currentSessionId);
  }

  async rename(id: string, deviceName: string, currentSessionId: string): Promise<SessionDto> {
    const now = this.clock.now();
    if (!(await this.sessions.rename(id, deviceName || null, now))) throw new AppException(AppErrorCode.SESSION_NOT_FOUND);
    return this.get(id, currentSessionId);
  }

  async revoke(id: string, me: { userId: string; sessionId: string }): Promise<void> {
    const reason = id === me.sessionId ? 'logout' : 'user_revoked';
    if (!(await this.sessions.revoke(id, reason, this.clock.now()))) throw new AppException(AppErrorCode.SESSION_NOT_FOUND);
    await this.logRevoked(me.userId, [id], reason);
  }

  /** Revokes the caller's other sessions (and the current one too when asked). */
  async revokeAll(me: { userId: string; sessionId: string }, includeCurrent: boolean, reason: 'user_revoked' | 'password_change'): Promise<number> {
    const now = this.clock.now();
    const others = await this.sessions.revokeAll(reason, now, me.sessionId);
    await this.logRevoked(me.userId, others, reason);
    if (includeCurrent) await this.logout(me);
    return others.length + (includeCurrent ? 1 : 0);
  }

  async logout(me: { userId: string; sessionId: string }): Promise<void> {
    if (await this.sessions.revoke(me.sessionId, 'logout', this.clock.now())) await this.logRevoked(me.userId, [me.sessionId], 'logout');
  }

  /**
   * Signs out the session a refresh token belongs to (`logout`), for a client that holds only that
   * token (a browser with the refresh cookie). Only the session's current token counts: a forged,
   * rotated or expired one, or one of an ended session, is refused (401) and changes nothing.
   */
  async logoutWithRefreshToken(refreshToken: string): Promise<void> {
    const claims = this.tokens.parse(refreshToken);
    if (!claims) throw new AppException(AppErrorCode.INVALID_REFRESH_TOKEN);
    await this.rls.runAsUser(claims.userId, async () => {
      const locked = await this.sessions.lockForRefresh(claims.sessionId);
      const current =
        locked &&
        locked.session.userId === claims.userId &&
        !locked.session.isRevoked &&
        locked.session.expiresAt.getTime() > this.clock.now().getTime() &&
        this.tokens.sameHash(this.tokens.hash(refreshToken), locked.session.refreshTokenHash);
      if (!current) throw new AppException(AppErrorCode.INVALID_REFRESH_TOKEN);
      await this.logout(claims);
    });
  }

  /** A user's own revocations: a log line and an audit row each, the user as actor. */
  private async logRevoked(userId: string, sessionIds: string[], reason: string): Promise<void> {
    for (const sessionId of sessionIds) {
      this.logger.log(new SecurityEvent({ msg: 'Session revoked', event: 'session.revoked', userId, sessionId, reason }));
    }
    await this.audit.record(...sessionIds.map((sessionId) => ({ type: 'session.revoked' as const, userId, actorId: userId, sessionId, reason })));
  }

  /**
   * Inside the sign-in's transaction, before its session is inserted: with a cap set and the account
   * at it, either revokes the least recently used sessions (`session_limit`) or refuses the sign-in
   * (409, recorded and committed). Sign-ins of one account take turns from the lock to their commit,
   * so concurrent ones cannot both find room for one more.
   */
  private async enforceSessionCap(userId: string, now: Date, device: DeviceInfo): Promise<void> {
    const { maxPerUser, limitPolicy } = this.config.sessions;
    if (!(maxPerUser > 0)) return;
    await this.sessions.lockForNewSession(userId);
    const active = await this.sessions.countActive(now);
    if (active < maxPerUser) return;
    const client = { ipAddress: device.ipAddress, userAgent: device.userAgent };
    if (limitPolicy === 'deny') {
      this.logger.warn(new SecurityEvent({ msg: 'Login refused: session limit reached', event: 'auth.login.failed', userId, reason: 'session_limit' }));
      await this.audit.record({ type: 'auth.login.failed', userId, actorId: userId, reason: 'session_limit', ...client });
      throw new AppException(AppErrorCode.SESSION_LIMIT_REACHED, { commit: true });
    }
    const evicted = await this.sessions.revokeLeastRecentlyUsed(active - maxPerUser + 1, 'session_limit', now);
    for (const sessionId of evicted) {
      this.logger.log(new SecurityEvent({ msg: 'Session revoked', event: 'session.revoked', userId, sessionId, reason: 'session_limit' }));
    }
    await this.audit.record(...evicted.map((sessionId) => ({ type: 'session.evicted' as const, userId, actorId: null, sessionId, reason: 'session_limit', ...client })));
  }

  /** Sliding expiry: now + refresh TTL, never past the absolute lifetime from creation. */
  private nextExpiry(createdAt: Date, now: Date): Date {
    const { refreshToken, sessions } = this.config;
    const sliding = now.getTime() + refreshToken.ttlSeconds * SECOND;
    const absolute = createdAt.getTime() + sessions.absoluteLifetimeSeconds * SECOND;
    return new Date(Math.min(sliding, absolute));
  }
}
