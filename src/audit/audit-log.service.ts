import { Injectable, Logger } from '@nestjs/common';
import { Clock } from '../core/clock';
import { RlsContext } from '../database/rls.context';
import { currentAuditContext } from './audit-context';
import { AuditEventInput, AuthEvent, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page, PageRequest } from './audit-event';
import { AuthEventRow, AuthEventsRepository, PositionedEvent } from './auth-events.repository';
import { decodeCursor, pageOf, pageSize } from './cursor';

const USER_AGENT_MAX_LENGTH = 512;
const REASON_MAX_LENGTH = 64;
const DETAIL_MAX_LENGTH = 500;

const clip = (value: string | null | undefined, max: number): string | null => (value ? value.slice(0, max) : null);

/** An event as the API shows it (the read model without its page position). */
export function withoutPosition({ pageKey: _position, ...event }: PositionedEvent): AuthEvent {
  return event;
}

/**
 * The audit log (`auth_events`, migration 000007): append-only, under RLS. Records the library's
 * security events in the transaction that makes them happen, and reads a user's own events. A user's
 * events as an admin sees them: `AdminSessionsService.listUserEvents`.
 */
@Injectable()
export class AuditLogService {
  private readonly logger = new Logger('Audit');

  constructor(
    private readonly events: AuthEventsRepository,
    private readonly rls: RlsContext,
    private readonly clock: Clock,
  ) {}

  /**
   * Records events, each as its own user (RLS lets a transaction insert only its user's events, with
   * that user or nobody as actor). Inside a transaction running as that user (a request's) the rows
   * are part of it: committed with what they describe, or rolled back with it. IP and User-Agent
   * default to the current request's (`AuditClientContext`).
   */
  async record(...events: AuditEventInput[]): Promise<void> {
    const context = currentAuditContext();
    const now = this.clock.now();
    const byUser = new Map<string, AuthEventRow[]>();
    for (const e of events) {
      const row: AuthEventRow = {
        createdAt: now,
        type: e.type,
        userId: e.userId,
        actorId: e.actorId ?? null,
        sessionId: e.sessionId ?? null,
        ipAddress: e.ipAddress !== undefined ? e.ipAddress : (context?.ipAddress ?? null),
        userAgent: clip(e.userAgent !== undefined ? e.userAgent : context?.userAgent, USER_AGENT_MAX_LENGTH),
        reason: clip(e.reason, REASON_MAX_LENGTH),
        detail: clip(e.detail, DETAIL_MAX_LENGTH),
      };
      byUser.set(e.userId, [...(byUser.get(e.userId) ?? []), row]);
    }
    for (const [userId, rows] of byUser) await this.rls.runAsUser(userId, () => this.events.insert(rows));
  }

  /** A user's own events, newest first (read as that user: RLS shows nobody else's). */
  async listForUser(userId: string, page: PageRequest = {}): Promise<Page<AuthEvent>> {
    const after = decodeCursor(page.cursor, ['timestamp', 'uuid']);
    const limit = pageSize(page.limit, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
    const rows = await this.rls.runAsUser(userId, () => this.events.listOwn(userId, after && { at: after[0], id: after[1] }, limit + 1));
    return pageOf(rows, limit, (r) => [r.pageKey, r.id], withoutPosition);
  }

  /**
   * Deletes events older than `retentionSeconds` (0: keeps everything), `batchSize` rows per
   * transaction, through the SECURITY DEFINER door. Returns how many. Run by the session purge.
   */
  async purge(retentionSeconds: number, batchSize: number): Promise<number> {
    if (retentionSeconds <= 0) return 0;
    let total = 0;
    for (;;) {
      const removed = await this.rls.runAsUser(null, () => this.events.purgeBatch(retentionSeconds, batchSize));
      total += removed;
      if (removed < batchSize) break;
    }
    if (total > 0) this.logger.log(`Purged ${total} audit events older than ${retentionSeconds}s`);
    return total;
  }
}
