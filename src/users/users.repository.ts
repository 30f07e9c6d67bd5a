import { EntityRepository } from '@mikro-orm/postgresql';
import { HOT_PATH_QUERIES as SQL } from '../database/hot-path-sql';
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
    const rows = await query<{ id: string; password_hash: string; is_active: boolean }>(this.getEntityManager(), SQL.findForLogin, [email]);
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
    const rows = await query<{ id: string; email: string; display_name: string | null; created_at: string | Date }>(em, SQL.findProfile, [id]);
    const r = rows[0];
    return r ? { id: r.id, email: r.email, displayName: r.display_name, createdAt: dateParser(em)(r.created_at) } : null;
  }

  async findById(id: string): Promise<User | null> {
    return this.findOne({ id }, { refresh: true });
  }

  async findPasswordHash(id: string): Promise<string | null> {
    const rows = await query<{ password_hash: string }>(this.getEntityManager(), 'select password_hash from users where id = ? and is_active', [id]);
    return rows[0]?.password_hash ?? null;
  }

  /**
   * Locks the account row until the transaction ends — `share` for a sign-in (sign-ins do not wait on
   * each other), `update` for a password change (waits for them, and they for it) — if it is still
   * active with this password hash. False when it is not (nothing locked).
   */
  async lockIfCredentialsUnchanged(id: string, passwordHash: string, mode: 'share' | 'update'): Promise<boolean> {
    const rows = await query<unknown>(
      this.getEntityManager(),
      `select 1 from users where id = ? and is_active and password_hash = ? for ${mode === 'share' ? 'share' : 'no key update'}`,
      [id, passwordHash],
    );
    return rows.length > 0;
  }

  async updatePasswordHash(id: string, passwordHash: string, now: Date): Promise<number> {
    return this.nativeUpdate({ id }, { passwordHash, passwordChangedAt: now });
  }
}
