import { EntityRepository } from '@mikro-orm/postgresql';
import { query } from '../database/sql';
import { DeviceInfo } from './device';
import { RevocationReason, Session } from './session.entity';

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
    const rows = await query<unknown>(
      em,
      `select 1 from sessions s join users u on u.id = s.user_id
        where s.id = ? and s.is_revoked = false and s.expires_at > ? and u.is_active`,
      [id, now],
    );
    return rows.length > 0;
  }

  findActive(id: string, now: Date): Promise<Session | null> {
    return this.findOne({ id, isRevoked: false, expiresAt: { $gt: now } }, { refresh: true });
  }

  listActive(now: Date): Promise<Session[]> {
    return this.find({ isRevoked: false, expiresAt: { $gt: now } }, { orderBy: { lastUsedAt: 'desc', id: 'asc' }, refresh: true });
  }

  /**
   * Locks the session row until the transaction ends, so refreshes of one session take turns; also
   * says whether its account is still active.
   */
  async lockForRefresh(id: string): Promise<{ session: Session; userActive: boolean } | null> {
    const em = this.getEntityManager();
    const rows = await query<Record<string, unknown> & { user_active: boolean }>(
      em,
      `select s.*, u.is_active as user_active from sessions s join users u on u.id = s.user_id
        where s.id = ? for update of s`,
      [id],
    );
    if (!rows[0]) return null;
    const { user_active: userActive, ...row } = rows[0];
    return { session: em.map(Session, row), userActive };
  }

  async rotate(id: string, change: { refreshTokenHash: string; lastUsedAt: Date; expiresAt: Date }): Promise<void> {
    await this.nativeUpdate({ id }, change);
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
