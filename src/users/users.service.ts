import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import { InjectRepository } from '@mikro-orm/nestjs';
import { AppErrorCode, AppException } from '../common/app.exception';
import { Clock } from '../database/clock';
import { RlsContext } from '../database/rls.context';
import { PasswordHasher } from './password';
import { User } from './user.entity';
import { UserProfile, UsersRepository } from './users.repository';

export type CredentialCheck =
  | { ok: true; userId: string }
  | { ok: false; reason: 'unknown_email' | 'wrong_password' | 'inactive'; userId?: string };

export function normaliseEmail(email: string): string {
  return email.trim();
}

@Injectable()
export class UsersService {
  constructor(
    @InjectRepository(User) private readonly users: UsersRepository,
    private readonly passwords: PasswordHasher,
    private readonly rls: RlsContext,
    private readonly clock: Clock,
  ) {}

  /** Creates an account. The id is chosen here so the row can be inserted as its own user under RLS. */
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
   */
  async checkCredentials(email: string, password: string): Promise<CredentialCheck> {
    const lookup = normaliseEmail(email);
    // MikroORM inlines parameters into the SQL text, where a NUL ends the statement: PostgreSQL then
    // reports a protocol violation (SQLSTATE 08P01, answered as 503). No stored email holds a NUL.
    const candidate = lookup.includes('\u0000') ? null : await this.users.findForLogin(lookup);
    const matches = await this.passwords.verify(password, candidate?.passwordHash);
    if (!candidate) return { ok: false, reason: 'unknown_email' };
    if (!matches) return { ok: false, reason: 'wrong_password', userId: candidate.id };
    if (!candidate.isActive) return { ok: false, reason: 'inactive', userId: candidate.id };
    return { ok: true, userId: candidate.id };
  }

  /** The current user's own row (RLS: no other row is visible). */
  /** The signed-in user's profile (401 if the account is gone or no longer visible). */
  async getProfile(userId: string): Promise<UserProfile> {
    const user = await this.users.findProfile(userId);
    if (!user) throw new AppException(AppErrorCode.SESSION_INACTIVE);
    return user;
  }

  async getCurrent(userId: string): Promise<User> {
    const user = await this.users.findById(userId);
    if (!user) throw new AppException(AppErrorCode.SESSION_INACTIVE);
    return user;
  }

  async changePassword(userId: string, currentPassword: string, newPassword: string): Promise<void> {
    const user = await this.getCurrent(userId);
    if (!(await this.passwords.verify(currentPassword, user.passwordHash))) throw new AppException(AppErrorCode.WRONG_PASSWORD);
    await this.users.updatePasswordHash(userId, await this.passwords.hash(newPassword), this.clock.now());
  }
}
