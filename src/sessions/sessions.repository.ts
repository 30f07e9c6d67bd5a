import { EntityRepository } from '@mikro-orm/postgresql';
import { HOT_PATH_QUERIES as SQL } from '../database/hot-path-sql';
import { dateParser, query } from '../database/sql';
import { DeviceInfo } from './device';
import { RevocationReason, Session } from './session.entity';

/** What a session listing shows (an entity satisfies it too). */
export type SessionView = Pick<Session, 'id' | 'deviceName' | 'deviceType' | 'userAgent' | 'ipAddress' | 'createdAt' | 'lastUsedAt' | 'expiresAt'>;

/** A session row locked for a refresh: what the rotation decides on. */
export type LockedSession = Pick<Session, 'id' | 'userId' | 'refreshTokenHash' | 'userAgent' | 'isRevoked' | 'createdAt' | 'lastUsedAt' | 'expiresAt'>;

export interface NewSession extends DeviceInfo {
  id: string;
  userId: string;
  refreshTokenHash: string;
  createdAt: Date;
  expiresAt: Date;
}

/**
 * Persistence for sessions. Every query runs under RLS as the current transaction's user: no method
 * filters by user id, and none could return another user's row.
 *
 * Two ways in, by rule: the hot paths (`isActive`, `listActive`, `lockForRefresh`, `rotate`) send the
 * hand-written statements of `database/hot-path-sql.ts` and map plain rows; so do the two statements
 * the ORM cannot say in one round trip (`revokeAll`: UPDATE … RETURNING; `purgeBatch`: a function
 * call). Everything else uses the ORM.
 */
export class SessionsRepository extends EntityRepository<Session> {
  async insertSession(s: NewSession): Promise<void> {
    await this.getEntityManager().insert(Session, {
      id: s.id,
      userId: s.userId,
      refreshTokenHash: s.refreshTokenHash,
      userAgent: s.userAgent,
      ipAddress: s.ipAddress,
      deviceName: s.deviceName,
      deviceType: s.deviceType,
      expiresAt: s.expiresAt,
      createdAt: s.createdAt,
      lastUsedAt: s.createdAt,
      isRevoked: false,
    });
  }

  /**
   * True when the session exists for the current user, is not revoked, has not expired, and its
   * account is active. One statement, two primary-key lookups.
   */
  async isActive(id: string, now: Date): Promise<boolean> {
    const em = this.getEntityManager();
    const rows = await query<unknown>(em, SQL.isActive, [id, now]);
    return rows.length > 0;
  }

  findActive(id: string, now: Date): Promise<Session | null> {
    return this.findOne({ id, isRevoked: false, expiresAt: { $gt: now } }, { refresh: true });
  }

  /**
   * The current user's active sessions, most recently used first. Hot path (`GET /sessions`): plain
   * rows of the listed columns, not entities — hydrating them into the identity map and diffing them
   * again at the transaction's flush cost more than the query.
   */
  async listActive(now: Date): Promise<SessionView[]> {
    const em = this.getEntityManager();
    const rows = await query<ListedRow>(em, SQL.listActive, [now]);
    const date = dateParser(em);
    return rows.map((r) => ({
      id: r.id,
      deviceName: r.device_name,
      deviceType: r.device_type as Session['deviceType'],
      userAgent: r.user_agent,
      ipAddress: r.ip_address,
      createdAt: date(r.created_at),
      lastUsedAt: date(r.last_used_at),
      expiresAt: date(r.expires_at),
    }));
  }

  /**
   * Locks the session row until the transaction ends, so refreshes of one session take turns; also
   * says whether its account is still active. A plain row (hot path: `POST /auth/refresh`).
   */
  async lockForRefresh(id: string): Promise<{ session: LockedSession; userActive: boolean } | null> {
    const em = this.getEntityManager();
    const rows = await query<LockedRow>(em, SQL.lockForRefresh, [id]);
    const r = rows[0];
    if (!r) return null;
    const date = dateParser(em);
    return {
      session: {
        id: r.id,
        userId: r.user_id,
        refreshTokenHash: r.refresh_token_hash,
        userAgent: r.user_agent,
        isRevoked: r.is_revoked,
        createdAt: date(r.created_at),
        lastUsedAt: date(r.last_used_at),
        expiresAt: date(r.expires_at),
      },
      userActive: r.user_active,
    };
  }

  /**
   * Stores a rotation, and the User-Agent of the client that made it when it sent one (a refresh
   * without one keeps the last known; a host's own call passes none).
   */
  async rotate(id: string, change: { refreshTokenHash: string; lastUsedAt: Date; expiresAt: Date; userAgent?: string | null }): Promise<void> {
    const { refreshTokenHash, lastUsedAt, expiresAt, userAgent } = change;
    await query(this.getEntityManager(), SQL.rotate, [refreshTokenHash, lastUsedAt, expiresAt, userAgent ?? null, id]);
  }

  async rename(id: string, deviceName: string | null, now: Date): Promise<boolean> {
    return (await this.nativeUpdate({ id, isRevoked: false, expiresAt: { $gt: now } }, { deviceName })) > 0;
  }

  async revoke(id: string, reason: RevocationReason, now: Date): Promise<boolean> {
    return (await this.nativeUpdate({ id, isRevoked: false }, { isRevoked: true, revokedAt: now, revokedReason: reason })) > 0;
  }

  /** Revokes every unrevoked session of the current user except `keepId` (if given); returns their ids. */
  async revokeAll(reason: RevocationReason, now: Date, keepId?: string): Promise<string[]> {
    const em = this.getEntityManager();
    const rows = await query<{ id: string }>(
      em,
      `update sessions set is_revoked = true, revoked_at = ?, revoked_reason = ?
        where is_revoked = false${keepId ? ' and id <> ?' : ''} returning id`,
      keepId ? [now, reason, keepId] : [now, reason],
    );
    return rows.map((r) => r.id);
  }

  /**
   * Makes the sign-ins of one account take turns until their transactions end (the session cap): a
   * transaction-scoped advisory lock on the user id, in a key space of its own. Row locks cannot do
   * it: the account row is already held FOR SHARE by every sign-in, and upgrading those would deadlock.
   */
  async lockForNewSession(userId: string): Promise<void> {
    await query(this.getEntityManager(), "select pg_advisory_xact_lock(hashtext('nest-rls-auth session cap'), hashtext(?))", [userId]);
  }

  /** How many active (unrevoked, unexpired) sessions the current user has. */
  async countActive(now: Date): Promise<number> {
    const rows = await query<{ n: number }>(this.getEntityManager(), 'select count(*)::int as n from sessions where is_revoked = false and expires_at > ?', [now]);
    return Number(rows[0]?.n ?? 0);
  }

  /** Revokes the current user's `count` least recently used active sessions; returns their ids. */
  async revokeLeastRecentlyUsed(count: number, reason: RevocationReason, now: Date): Promise<string[]> {
    const rows = await query<{ id: string }>(
      this.getEntityManager(),
      `update sessions set is_revoked = true, revoked_at = greatest(?::timestamptz, created_at), revoked_reason = ?
        where id in (select id from sessions where is_revoked = false and expires_at > ? order by last_used_at asc, id asc limit ?)
        returning id`,
      [now, reason, now, count],
    );
    return rows.map((r) => r.id);
  }

  /** One batch of the purge, through the SECURITY DEFINER door (it sees every user's rows). */
  async purgeBatch(retentionSeconds: number, limit: number): Promise<number> {
    const em = this.getEntityManager();
    const rows = await query<{ removed: number }>(em, 'select purge_ended_sessions(make_interval(secs => ?), ?) as removed', [
      retentionSeconds,
      limit,
    ]);
    return Number(rows[0]?.removed ?? 0);
  }
}

interface ListedRow {
  id: string;
  device_name: string | null;
  device_type: string;
  user_agent: string | null;
  ip_address: string | null;
  created_at: string | Date;
  last_used_at: string | Date;
  expires_at: string | Date;
}

interface LockedRow {
  id: string;
  user_id: string;
  refresh_token_hash: string;
  user_agent: string | null;
  is_revoked: boolean;
  created_at: string | Date;
  last_used_at: string | Date;
  expires_at: string | Date;
  user_active: boolean;
}
