import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import { InjectRepository } from '@mikro-orm/nestjs';
import { AppErrorCode, AppException } from '../core/app.exception';
import { Clock } from '../core/clock';
import { RlsContext } from '../database/rls.context';
import { normaliseEmail } from './email';
import { PasswordHasher } from './password';
import { User } from './user.entity';
import { UserProfile, UsersRepository } from './users.repository';

export type CredentialCheck =
  /** `passwordHash`: the hash the password was checked against (see `holdCredentials`). */
  | { ok: true; userId: string; passwordHash: string }
  | { ok: false; reason: 'unknown_email' | 'wrong_password' | 'inactive'; userId?: string };

@Injectable()
export class UsersService {
  constructor(
    @InjectRepository(User) private readonly users: UsersRepository,
    private readonly passwords: PasswordHasher,
    private readonly rls: RlsContext,
    private readonly clock: Clock,
  ) {}

  /**
   * Creates an account. The id is chosen here so the row can be inserted as its own user under RLS.
   * bcrypt runs before the transaction: no pooled connection waits on it.
   */
  async register(input: { email: string; password: string; displayName?: string | null }): Promise<User> {
    const id = randomUUID();
    const passwordHash = await this.passwords.hash(input.password);
    try {
      return await this.rls.runAsUser(id, () =>
        this.users.insertUser({
          id,
          email: normaliseEmail(input.email),
          passwordHash,
          displayName: input.displayName?.trim() || null,
          now: this.clock.now(),
        }),
      );
    } catch (err) {
      if (err instanceof UniqueConstraintViolationException) throw new AppException(AppErrorCode.EMAIL_TAKEN);
      throw err;
    }
  }

  /**
   * Checks an email and password. Unknown emails, inactive accounts and wrong passwords all cost one
   * bcrypt comparison; the caller gives them all the same answer (the reason is for the log only).
   * The lookup is a transaction of its own and bcrypt runs after it, holding no pooled connection.
   */
  async checkCredentials(email: string, password: string): Promise<CredentialCheck> {
    const lookup = normaliseEmail(email);
    // A NUL cannot be in a stored email (and PostgreSQL refuses it in text): no lookup needed.
    const candidate = lookup.includes('\u0000') ? null : await this.rls.runAsUser(null, () => this.users.findForLogin(lookup));
    const matches = await this.passwords.verify(password, candidate?.passwordHash);
    if (!candidate) return { ok: false, reason: 'unknown_email' };
    if (!matches) return { ok: false, reason: 'wrong_password', userId: candidate.id };
    if (!candidate.isActive) return { ok: false, reason: 'inactive', userId: candidate.id };
    return { ok: true, userId: candidate.id, passwordHash: candidate.passwordHash };
  }

  /**
   * Inside the transaction that opens a session after `checkCredentials`: true when the account is
   * still active with the password hash that was checked, and holds its row (FOR SHARE) until that
   * transaction ends. A password change waits for it, and one that committed first is seen here: a
   * sign-in with the old password in flight during a change cannot outlive the change.
   */
  holdCredentials(userId: string, passwordHash: string): Promise<boolean> {
    return this.users.lockIfCredentialsUnchanged(userId, passwordHash, 'share');
  }

  /** The signed-in user's profile (401 if the account is gone or no longer visible). */
  async getProfile(userId: string): Promise<UserProfile> {
    const user = await this.users.findProfile(userId);
    if (!user) throw new AppException(AppErrorCode.SESSION_INACTIVE);
    return user;
  }

  /**
   * The first half of a password change, outside any transaction but a short read: checks the current
   * password and hashes the new one (both bcrypt). Returns what `commitPasswordChange` needs.
   */
  async preparePasswordChange(userId: string, currentPassword: string, newPassword: string): Promise<{ currentHash: string; newHash: string }> {
    const current = await this.rls.runAsUser(userId, () => this.users.findPasswordHash(userId));
    if (current === null) throw new AppException(AppErrorCode.SESSION_INACTIVE);
    if (!(await this.passwords.verify(currentPassword, current))) throw new AppException(AppErrorCode.WRONG_PASSWORD);
    return { currentHash: current, newHash: await this.passwords.hash(newPassword) };
  }

  /**
   * The second half, inside the caller's transaction: locks the account row and stores the new hash,
   * unless the password changed since it was checked (a concurrent change won: 401, nothing written).
   */
  async commitPasswordChange(userId: string, change: { currentHash: string; newHash: string }): Promise<void> {
    if (!(await this.users.lockIfCredentialsUnchanged(userId, change.currentHash, 'update'))) {
      throw new AppException(AppErrorCode.WRONG_PASSWORD);
    }
    await this.users.updatePasswordHash(userId, change.newHash, this.clock.now());
  }
}
