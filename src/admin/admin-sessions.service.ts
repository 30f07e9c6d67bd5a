import { Injectable, Logger } from '@nestjs/common';
import { currentAuditContext } from '../audit/audit-context';
import { AuthEvent, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page, PageRequest } from '../audit/audit-event';
import { withoutPosition } from '../audit/audit-log.service';
import { decodeCursor, pageOf, pageSize } from '../audit/cursor';
import { AppErrorCode, AppException } from '../core/app.exception';
import { Clock } from '../core/clock';
import { SecurityEvent } from '../core/security-event';
import { RlsContext } from '../database/rls.context';
import { AdminActionClient, AdminRepository, AdminSession, AdminUser } from './admin.repository';
import { parseNetwork } from './network';

/** The revocation reasons an admin may give (the database refuses others). */
export const ADMIN_REVOCATION_REASONS = ['admin_action', 'suspicious_activity'] as const;
export type AdminRevocationReason = (typeof ADMIN_REVOCATION_REASONS)[number];

/** How an admin action is recorded: why, a note, and from where (default: the current request's client). */
export interface AdminActionOptions {
  /** Stored as the sessions' revoked_reason and the audit rows' reason. */
  reason?: AdminRevocationReason;
  /** Free text for the audit log (at most 500 characters; never a secret), e.g. a ticket number. */
  note?: string | null;
  ipAddress?: string | null;
  userAgent?: string | null;
}

/** SQLSTATEs the admin doors raise on purpose. */
const NOT_AN_ADMIN = '42501';
const NO_SUCH_USER = 'P0002';

/**
 * Operator actions on other users' sessions and accounts, for the /admin routes and for host apps
 * (a "ban user" or "support password reset" flow). `actorId` is the admin acting: every method runs
 * as that user, and the database decides on each call, from the actor's own `users` row, whether they
 * are an active admin (else 403, `ADMIN_REQUIRED`) — a demoted admin is refused on the next call.
 * Every change is recorded in the audit log with the admin as actor, in the same transaction.
 */
@Injectable()
export class AdminSessionsService {
  private readonly logger = new Logger('Admin');

  constructor(
    private readonly admins: AdminRepository,
    private readonly rls: RlsContext,
    private readonly clock: Clock,
  ) {}

  /** Whether `actorId` is an active admin right now (the database's answer). */
  isAdmin(actorId: string): Promise<boolean> {
    return this.rls.runAsUser(actorId, () => this.admins.isAdmin());
  }

  /** Throws 403 (`ADMIN_REQUIRED`) unless `actorId` is an active admin. */
  async assertAdmin(actorId: string): Promise<void> {
    if (!(await this.isAdmin(actorId))) throw new AppException(AppErrorCode.ADMIN_REQUIRED);
  }

  /** A user's active sessions, most recently used first. 404 for an unknown user. */
  listUserSessions(actorId: string, userId: string, page: PageRequest = {}): Promise<Page<AdminSession>> {
    const after = decodeCursor(page.cursor, ['timestamp', 'uuid']);
    const limit = pageSize(page.limit, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
    return this.asAdmin(actorId, async () => {
      const rows = await this.admins.listUserSessions(userId, this.clock.now(), after && { lastUsedAt: after[0], id: after[1] }, limit + 1);
      return pageOf(rows, limit, (r) => [r.pageKey, r.id], ({ pageKey: _position, ...session }) => session);
    });
  }

  /** Revokes all of a user's active sessions (default reason `admin_action`); returns how many. 404 for an unknown user. */
  revokeUserSessions(actorId: string, userId: string, options: AdminActionOptions = {}): Promise<number> {
    const reason = options.reason ?? 'admin_action';
    return this.asAdmin(actorId, async () => {
      const revoked = await this.admins.revokeUserSessions(userId, reason, this.clock.now(), this.client(options));
      this.logger.log(new SecurityEvent({ msg: 'Sessions revoked by an admin', event: 'admin.sessions.revoked', actorId, userId, reason, revoked }));
      return revoked;
    });
  }

  /** Revokes one active session (default reason `admin_action`). 404 when no active session has this id. */
  revokeSession(actorId: string, sessionId: string, options: AdminActionOptions = {}): Promise<void> {
    const reason = options.reason ?? 'admin_action';
    return this.asAdmin(actorId, async () => {
      const userId = await this.admins.revokeSession(sessionId, reason, this.clock.now(), this.client(options));
      if (!userId) throw new AppException(AppErrorCode.SESSION_NOT_FOUND);
      this.logger.log(new SecurityEvent({ msg: 'Session revoked by an admin', event: 'session.revoked', actorId, userId, sessionId, reason }));
    });
  }

  /** Active sessions from an address or CIDR subnet, across users, ordered by IP. */
  listSessionsByIp(actorId: string, ipOrCidr: string, page: PageRequest = {}): Promise<Page<AdminSession>> {
    const network = this.network(ipOrCidr);
    const after = decodeCursor(page.cursor, ['ip', 'uuid']);
    const limit = pageSize(page.limit, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
    return this.asAdmin(actorId, async () => {
      const rows = await this.admins.listSessionsByIp(network, this.clock.now(), after && { ip: after[0], id: after[1] }, limit + 1);
      return pageOf(rows, limit, (r) => [r.ipAddress ?? '', r.id], (r) => r);
    });
  }

  /** Revokes the active sessions from an address or subnet (default reason `suspicious_activity`); returns how many. */
  revokeSessionsByIp(actorId: string, ipOrCidr: string, options: AdminActionOptions = {}): Promise<number> {
    const network = this.network(ipOrCidr);
    const reason = options.reason ?? 'suspicious_activity';
    return this.asAdmin(actorId, async () => {
      const revoked = await this.admins.revokeSessionsByIp(network, reason, this.clock.now(), this.client(options));
      this.logger.warn(new SecurityEvent({ msg: 'Sessions revoked by IP', event: 'admin.sessions.revoked', actorId, network, reason, revoked }));
      return revoked;
    });
  }

  /** Turns an account off: every session is revoked (`admin_action`), sign-in and refresh refused. 404 for an unknown user. */
  deactivateUser(actorId: string, userId: string, options: Omit<AdminActionOptions, 'reason'> = {}): Promise<AdminUser> {
    return this.setActive(actorId, userId, false, options);
  }

  /** Turns an account back on (its revoked sessions stay revoked). 404 for an unknown user. */
  reactivateUser(actorId: string, userId: string, options: Omit<AdminActionOptions, 'reason'> = {}): Promise<AdminUser> {
    return this.setActive(actorId, userId, true, options);
  }

  /** A user's audit events, newest first (also of an account that no longer exists). */
  listUserEvents(actorId: string, userId: string, page: PageRequest = {}): Promise<Page<AuthEvent>> {
    const before = decodeCursor(page.cursor, ['timestamp', 'uuid']);
    const limit = pageSize(page.limit, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
    return this.asAdmin(actorId, async () => {
      const rows = await this.admins.listUserEvents(userId, before && { at: before[0], id: before[1] }, limit + 1);
      return pageOf(rows, limit, (r) => [r.pageKey, r.id], withoutPosition);
    });
  }

  private setActive(actorId: string, userId: string, active: boolean, options: Omit<AdminActionOptions, 'reason'>): Promise<AdminUser> {
    return this.asAdmin(actorId, async () => {
      const user = await this.admins.setUserActive(userId, active, this.clock.now(), this.client(options));
      this.logger.log(new SecurityEvent({ msg: active ? 'User reactivated' : 'User deactivated', event: active ? 'user.reactivated' : 'user.deactivated', actorId, userId }));
      return user;
    });
  }

  /** Runs `fn` as the actor, with the doors' refusals as domain errors (403, 404). */
  private async asAdmin<T>(actorId: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await this.rls.runAsUser(actorId, fn);
    } catch (err) {
      const code = (err as { code?: unknown } | null)?.code;
      if (code === NOT_AN_ADMIN) throw new AppException(AppErrorCode.ADMIN_REQUIRED);
      if (code === NO_SUCH_USER) throw new AppException(AppErrorCode.USER_NOT_FOUND);
      throw err;
    }
  }

  private network(ipOrCidr: string): string {
    const network = parseNetwork(ipOrCidr);
    if (!network) throw new AppException(AppErrorCode.INVALID_NETWORK);
    return network;
  }

  private client(options: AdminActionOptions): AdminActionClient {
    const context = currentAuditContext();
    return {
      ipAddress: options.ipAddress !== undefined ? options.ipAddress : (context?.ipAddress ?? null),
      userAgent: options.userAgent !== undefined ? options.userAgent : (context?.userAgent ?? null),
      note: options.note ?? null,
    };
  }
}
