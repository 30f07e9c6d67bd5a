/** The events the library records in `auth_events` (migration 000007). */
export const AUTH_EVENT_TYPES = [
  'auth.login.succeeded',
  /** For an existing account only (`reason`: wrong_password, inactive, password_changed, session_limit). */
  'auth.login.failed',
  /** `reason`: refresh_token_reuse; `detail`: rotated_token_replayed or grace_replay_from_another_user_agent. */
  'auth.refresh.reuse_detected',
  'auth.password.changed',
  /** `reason`: the revocation reason; `actorId`: the user, an admin, or null for the service. */
  'session.revoked',
  /** Revoked by the session cap (SESSION_MAX_PER_USER, evict_oldest); `reason`: session_limit. */
  'session.evicted',
  'user.deactivated',
  'user.reactivated',
  /** By `npm run users:grant-admin` / `users:revoke-admin`; `reason`: the new role. */
  'user.role_changed',
] as const;
export type AuthEventType = (typeof AUTH_EVENT_TYPES)[number];

/** One event to record. Never put a secret (password, token, hash) in any field. */
export interface AuditEventInput {
  type: AuthEventType;
  /** The account the event is about; the row is recorded as this user (RLS). */
  userId: string;
  /** Who caused it: `userId` itself, or null for the service (idle timeout, token reuse, the session cap). */
  actorId?: string | null;
  sessionId?: string | null;
  reason?: string | null;
  detail?: string | null;
  /** Default: the current request's client address (see `AuditClientContext`), or null outside one. */
  ipAddress?: string | null;
  /** Default: the current request's User-Agent, or null outside one. */
  userAgent?: string | null;
}

/** An event as read back. */
export interface AuthEvent {
  id: string;
  type: string;
  userId: string;
  actorId: string | null;
  sessionId: string | null;
  ipAddress: string | null;
  userAgent: string | null;
  reason: string | null;
  detail: string | null;
  createdAt: Date;
}

/** One page of a keyset-paginated list: `nextCursor` fetches the next one (null on the last page). */
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface PageRequest {
  /** From a previous page's `nextCursor`. */
  cursor?: string;
  /** Default `DEFAULT_PAGE_SIZE`, at most `MAX_PAGE_SIZE`. */
  limit?: number;
}

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 200;
