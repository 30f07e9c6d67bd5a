import { EntityRepositoryType } from '@mikro-orm/core';
import { Entity, ManyToOne, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';
import { User } from '../users/user.entity';
import { SessionsRepository } from './sessions.repository';

export const DEVICE_TYPES = ['mobile', 'desktop', 'web', 'unknown'] as const;
export type DeviceType = (typeof DEVICE_TYPES)[number];

export const REVOCATION_REASONS = [
  'logout',
  'user_revoked',
  'password_change',
  'refresh_token_reuse',
  'idle_timeout',
  'admin_action',
  // Migration 000007: an admin revoking by IP, and the per-user session cap (SESSION_MAX_PER_USER).
  'suspicious_activity',
  'session_limit',
] as const;
export type RevocationReason = (typeof REVOCATION_REASONS)[number];

/** Mirror of the seed's `sessions` table (migration 000002): one row per sign-in on a device. */
@Entity({ tableName: 'sessions', repository: () => SessionsRepository })
export class Session {
  [EntityRepositoryType]?: SessionsRepository;

  @PrimaryKey({ type: 'uuid', columnType: 'uuid', defaultRaw: 'uuid_generate_v4()' })
  id!: string;

  @ManyToOne({ entity: () => User, fieldName: 'user_id', columnType: 'uuid', mapToPk: true, deleteRule: 'cascade' })
  userId!: string;

  /** SHA-256 of the current refresh token; never serialised. */
  @Property({ type: 'text', columnType: 'text', hidden: true })
  refreshTokenHash!: string;

  @Property({ type: 'text', columnType: 'text', nullable: true })
  userAgent?: string | null;

  @Property({ type: 'string', columnType: 'inet', nullable: true })
  ipAddress?: string | null;

  @Property({ type: 'text', columnType: 'text', nullable: true })
  deviceName?: string | null;

  @Property({ type: 'text', columnType: 'text', default: 'unknown' })
  deviceType: DeviceType = 'unknown';

  @Property({ type: 'datetime', columnType: 'timestamptz' })
  expiresAt!: Date;

  @Property({ type: 'boolean', columnType: 'boolean', default: false })
  isRevoked: boolean = false;

  @Property({ type: 'datetime', columnType: 'timestamptz', nullable: true })
  revokedAt?: Date | null;

  @Property({ type: 'text', columnType: 'text', nullable: true })
  revokedReason?: RevocationReason | null;

  @Property({ type: 'datetime', columnType: 'timestamptz', defaultRaw: 'now()' })
  createdAt!: Date;

  @Property({ type: 'datetime', columnType: 'timestamptz', defaultRaw: 'now()' })
  lastUsedAt!: Date;
}
