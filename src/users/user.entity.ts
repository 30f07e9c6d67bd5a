import { EntityRepositoryType, type Opt } from '@mikro-orm/core';
import { Entity, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';
import { UsersRepository } from './users.repository';

export const USER_ROLES = ['user', 'admin'] as const;
export type UserRole = (typeof USER_ROLES)[number];

/** Mirror of `users` (migration 000001). */
@Entity({ tableName: 'users', repository: () => UsersRepository })
export class User {
  [EntityRepositoryType]?: UsersRepository;

  @PrimaryKey({ type: 'uuid', columnType: 'uuid', defaultRaw: 'uuid_generate_v4()' })
  id!: string;

  @Property({ type: 'text', columnType: 'text' })
  email!: string;

  @Property({ type: 'text', columnType: 'text', hidden: true })
  passwordHash!: string;

  @Property({ type: 'text', columnType: 'text', nullable: true })
  displayName?: string | null;

  @Property({ type: 'boolean', columnType: 'boolean', default: true })
  isActive: boolean = true;

  /** Migration 000007. Set only over the owner connection (npm run users:grant-admin); the runtime cannot write it. */
  @Property({ type: 'text', columnType: 'text', default: 'user' })
  role: Opt<UserRole> = 'user';

  @Property({ type: 'datetime', columnType: 'timestamptz', defaultRaw: 'now()' })
  passwordChangedAt!: Date;

  @Property({ type: 'datetime', columnType: 'timestamptz', defaultRaw: 'now()' })
  createdAt!: Date;

  @Property({ type: 'datetime', columnType: 'timestamptz', defaultRaw: 'now()' })
  updatedAt!: Date;
}
