import { Injectable } from '@nestjs/common';
import { EntityManager } from '@mikro-orm/postgresql';
import { EventRow, PositionedEvent, toPositionedEvent } from '../audit/auth-events.repository';
import { dateParser, query } from '../database/sql';

/** A session as an admin sees it: device, IP, user agent and timestamps, never token material. */
export interface AdminSession {
  id: string;
  userId: string;
  deviceName: string | null;
  deviceType: string;
  userAgent: string | null;
  ipAddress: string | null;
  createdAt: Date;
  lastUsedAt: Date;
  expiresAt: Date;
}

export interface AdminUser {
  id: string;
  email: string;
  role: string;
  isActive: boolean;
}

/** Who performed an admin action from where, and the admin's note; stored with its audit rows. */
export interface AdminActionClient {
  ipAddress: string | null;
  userAgent: string | null;
  note: string | null;
}

interface SessionRow {
  id: string;
  user_id: string;
  device_name: string | null;
  device_type: string;
  user_agent: string | null;
  ip_address: string | null;
  created_at: string | Date;
  last_used_at: string | Date;
  expires_at: string | Date;
  page_key?: string;
}

/**
 * The admin doors of migration 000007, called in the caller's RLS transaction. Each function checks
 * first that app.current_user_id is an active admin (else SQLSTATE 42501) and takes the actor from
 * it: nothing here passes who is acting. SQLSTATE P0002: no such user.
 */
@Injectable()
export class AdminRepository {
  constructor(private readonly em: EntityManager) {}

  async isAdmin(): Promise<boolean> {
    const rows = await query<{ admin: boolean }>(this.em, 'select auth_is_admin() as admin');
    return rows[0]?.admin === true;
  }

  async listUserSessions(userId: string, now: Date, after: { lastUsedAt: string; id: string } | undefined, limit: number): Promise<Array<AdminSession & { pageKey: string }>> {
    const rows = await query<SessionRow>(this.em, 'select * from admin_list_user_sessions(?, ?, ?::timestamptz, ?::uuid, ?)', [
      userId,
      now,
      after?.lastUsedAt ?? null,
      after?.id ?? null,
      limit,
    ]);
    return rows.map((r) => ({ ...this.toSession(r), pageKey: r.page_key ?? '' }));
  }

  async revokeUserSessions(userId: string, reason: string, now: Date, client: AdminActionClient): Promise<number> {
    const rows = await query<{ revoked: number }>(this.em, 'select admin_revoke_user_sessions(?, ?, ?, ?::inet, ?, ?) as revoked', [
      userId,
      reason,
      now,
      client.ipAddress,
      client.userAgent,
      client.note,
    ]);
    return Number(rows[0]?.revoked ?? 0);
  }

  /** The revoked session's user id, or null when no active session has this id. */
  async revokeSession(sessionId: string, reason: string, now: Date, client: AdminActionClient): Promise<string | null> {
    const rows = await query<{ user_id: string | null }>(this.em, 'select admin_revoke_session(?, ?, ?, ?::inet, ?, ?) as user_id', [
      sessionId,
      reason,
      now,
      client.ipAddress,
      client.userAgent,
      client.note,
    ]);
    return rows[0]?.user_id ?? null;
  }

  async listSessionsByIp(network: string, now: Date, after: { ip: string; id: string } | undefined, limit: number): Promise<AdminSession[]> {
    const rows = await query<SessionRow>(this.em, 'select * from admin_list_sessions_by_ip(?::inet, ?, ?::inet, ?::uuid, ?)', [
      network,
      now,
      after?.ip ?? null,
      after?.id ?? null,
      limit,
    ]);
    return rows.map((r) => this.toSession(r));
  }

  async revokeSessionsByIp(network: string, reason: string, now: Date, client: AdminActionClient): Promise<number> {
    const rows = await query<{ revoked: number }>(this.em, 'select admin_revoke_sessions_by_ip(?::inet, ?, ?, ?::inet, ?, ?) as revoked', [
      network,
      reason,
      now,
      client.ipAddress,
      client.userAgent,
      client.note,
    ]);
    return Number(rows[0]?.revoked ?? 0);
  }

  async setUserActive(userId: string, active: boolean, now: Date, client: AdminActionClient): Promise<AdminUser> {
    const rows = await query<{ id: string; email: string; role: string; is_active: boolean }>(
      this.em,
      'select * from admin_set_user_active(?, ?, ?, ?::inet, ?, ?)',
      [userId, active, now, client.ipAddress, client.userAgent, client.note],
    );
    const r = rows[0];
    return { id: r.id, email: r.email, role: r.role, isActive: r.is_active };
  }

  async listUserEvents(userId: string, before: { at: string; id: string } | undefined, limit: number): Promise<PositionedEvent[]> {
    const rows = await query<EventRow>(this.em, 'select * from admin_list_auth_events(?, ?::timestamptz, ?::uuid, ?)', [
      userId,
      before?.at ?? null,
      before?.id ?? null,
      limit,
    ]);
    return rows.map((r) => toPositionedEvent(this.em, r));
  }

  private toSession(r: SessionRow): AdminSession {
    const date = dateParser(this.em);
    return {
      id: r.id,
      userId: r.user_id,
      deviceName: r.device_name,
      deviceType: r.device_type,
      userAgent: r.user_agent,
      ipAddress: r.ip_address,
      createdAt: date(r.created_at),
      lastUsedAt: date(r.last_used_at),
      expiresAt: date(r.expires_at),
    };
  }
}
