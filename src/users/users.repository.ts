import { EntityRepository } from '@mikro-orm/postgresql';
import { dateParser, query } from '../database/sql';
import { User } from './user.entity';

/** What a user sees of their own account (an entity satisfies it too). */
export type UserProfile = Pick<User, 'id' | 'email' | 'displayName' | 'createdAt'>;

export interface LoginCandidate {
  id: string;
  passwordHash: string;
  isActive: boolean;
}

/** Persistence for accounts. Every method runs under RLS as the current user, except `findForLogin`. */
export class UsersRepository extends EntityRepository<User> {
  /** The pre-authentication door (SECURITY DEFINER `auth_find_login`): the only lookup by email. */
  async findForLogin(email: string): Promise<LoginCandidate | null> {
    const rows = await query<{ id: string; password_hash: string; is_active: boolean }>(
      this.getEntityManager(),
      'select id, password_hash, is_active from auth_find_login(?)',
      [email],
    );
    const row = rows[0];
    return row ? { id: row.id, passwordHash: row.password_hash, isActive: row.is_active } : null;
  }

  async insertUser(user: { id: string; email: string; passwordHash: string; displayName: string | null; now: Date }): Promise<User> {
    const em = this.getEntityManager();
    await em.insert(User, {
      id: user.id,
      email: user.email,
      passwordHash: user.passwordHash,
      displayName: user.displayName,
      passwordChangedAt: user.now,
      createdAt: user.now,
      updatedAt: user.now,
      isActive: true,
    });
    return (await this.findById(user.id))!;
  }

  /** The account's public fields as a plain row (hot path: `GET /auth/me`; no entity hydration). */
  async findProfile(id: string): Promise<UserProfile | null> {
    const em = this.getEntityManager();
    const rows = await query<{ id: string; email: string; display_name: string | null; created_at: string | Date }>(
      em,
      'select id, email, display_name, created_at from users where id = ?',
      [id],
    );
    const r = rows[0];
    return r ? { id: r.id, email: r.email, displayName: r.display_name, createdAt: dateParser(em)(r.created_at) } : null;
  }

  async findById(id: string): Promise<User | null> {
    return this.findOne({ id }, { refresh: true });
  }

  async updatePasswordHash(id: string, passwordHash: string, now: Date): Promise<number> {
    return this.nativeUpdate({ id }, { passwordHash, passwordChangedAt: now });
  }
}
