import { Injectable } from '@nestjs/common';
import { EntityManager } from '@mikro-orm/postgresql';
import { dateParser, query } from '../database/sql';
import { AuthEvent } from './audit-event';

/** A row to insert; every field set (nulls included). */
export interface AuthEventRow {
  createdAt: Date;
  type: string;
  userId: string;
  actorId: string | null;
  sessionId: string | null;
  ipAddress: string | null;
  userAgent: string | null;
  reason: string | null;
  detail: string | null;
}

/** An event read back, with its position in the newest-first order (for the next page's cursor). */
export type PositionedEvent = AuthEvent & { pageKey: string };

export interface EventRow {
  id: string;
  created_at: string | Date;
  type: string;
  user_id: string;
  actor_id: string | null;
  session_id: string | null;
  ip_address: string | null;
  user_agent: string | null;
  reason: string | null;
  detail: string | null;
  page_key: string;
}

/** Maps an `auth_events` row (from this repository or an admin door) to an event. */
export function toPositionedEvent(em: Parameters<typeof dateParser>[0], r: EventRow): PositionedEvent {
  return {
    id: r.id,
    type: r.type,
    userId: r.user_id,
    actorId: r.actor_id,
    sessionId: r.session_id,
    ipAddress: r.ip_address,
    userAgent: r.user_agent,
    reason: r.reason,
    detail: r.detail,
    createdAt: dateParser(em)(r.created_at),
    pageKey: r.page_key,
  };
}

/**
 * Persistence for `auth_events`, in the caller's RLS transaction (the injected EntityManager resolves
 * to it). Under RLS as the transaction's user: inserts only that user's events,
 * reads only theirs. There is no update or delete here, and the runtime role has neither privilege.
 */
@Injectable()
export class AuthEventsRepository {
  constructor(private readonly em: EntityManager) {}

  /** One statement for any number of rows (arrays unnested), so a multi-session revocation is one round trip. */
  async insert(rows: AuthEventRow[]): Promise<void> {
    if (rows.length === 0) return;
    const column = <K extends keyof AuthEventRow>(key: K) => rows.map((r) => r[key]);
    await query(
      this.em,
      `insert into auth_events (created_at, type, user_id, actor_id, session_id, ip_address, user_agent, reason, detail)
       select * from unnest(?::timestamptz[], ?::text[], ?::uuid[], ?::uuid[], ?::uuid[], ?::inet[], ?::text[], ?::text[], ?::text[])`,
      [
        column('createdAt').map((d) => d.toISOString()),
        column('type'),
        column('userId'),
        column('actorId'),
        column('sessionId'),
        column('ipAddress'),
        column('userAgent'),
        column('reason'),
        column('detail'),
      ],
    );
  }

  /** The current user's events, newest first, before the cursor position (`before`). */
  async listOwn(userId: string, before: { at: string; id: string } | undefined, limit: number): Promise<PositionedEvent[]> {
    const rows = await query<EventRow>(
      this.em,
      `select id, created_at, type, user_id, actor_id, session_id, ip_address, user_agent, reason, detail,
              to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as page_key
         from auth_events
        where user_id = ?${before ? ' and (created_at, id) < (?::timestamptz, ?::uuid)' : ''}
        order by created_at desc, id desc
        limit ?`,
      before ? [userId, before.at, before.id, limit] : [userId, limit],
    );
    return rows.map((r) => toPositionedEvent(this.em, r));
  }

  /** One batch of the purge, through the SECURITY DEFINER door (it sees every user's rows). */
  async purgeBatch(retentionSeconds: number, limit: number): Promise<number> {
    const rows = await query<{ removed: number }>(this.em, 'select purge_old_auth_events(make_interval(secs => ?), ?) as removed', [retentionSeconds, limit]);
    return Number(rows[0]?.removed ?? 0);
  }
}
