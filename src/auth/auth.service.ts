import { Injectable, Logger } from '@nestjs/common';
import { AuditLogService } from '../audit/audit-log.service';
import { AppErrorCode, AppException } from '../core/app.exception';
import { RlsContext } from '../database/rls.context';
import { DeviceInfo } from '../sessions/device';
import { IssuedSession, SessionsService } from '../sessions/sessions.service';
import type { UserProfile } from '../users/users.repository';
import { UsersService } from '../users/users.service';
import { AccessTokenService } from './access-token.service';
import { ChangePasswordDto, LoginDto, RegisterDto, TokensDto, UserDto } from './auth.dto';
import { AuthPrincipal } from '../core/decorators';
import { LoginFailureLimiter } from './login-failures';
import { SecurityEvent } from '../core/security-event';

export function toUserDto(user: UserProfile): UserDto {
  return { id: user.id, email: user.email, displayName: user.displayName ?? null, createdAt: user.createdAt.toISOString() };
}

/** Tokens for the client, and when its refresh token expires (the refresh cookie's lifetime). */
export interface IssuedTokens {
  tokens: TokensDto;
  refreshTokenExpiresAt: Date;
}

@Injectable()
export class AuthService {
  private readonly logger = new Logger('Auth');

  constructor(
    private readonly users: UsersService,
    private readonly sessions: SessionsService,
    private readonly accessTokens: AccessTokenService,
    private readonly rls: RlsContext,
    private readonly loginFailures: LoginFailureLimiter,
    private readonly audit: AuditLogService,
  ) {}

  async register(dto: RegisterDto): Promise<UserDto> {
    const user = await this.users.register(dto);
    this.logger.log(new SecurityEvent({ msg: 'User registered', event: 'auth.registered', userId: user.id }));
    return toUserDto(user);
  }

  /**
   * Signs in: the lookup, then bcrypt with no connection held, then one transaction that opens the
   * session only if the password checked is still the account's (`holdCredentials`).
   */
  async login(dto: LoginDto, device: DeviceInfo): Promise<TokensDto> {
    return (await this.signIn(dto, device)).tokens;
  }

  /** `login`, also saying when the refresh token expires. */
  async signIn(dto: LoginDto, device: DeviceInfo): Promise<IssuedTokens> {
    const check = await this.users.checkCredentials(dto.email, dto.password);
    const client = { ipAddress: device.ipAddress, userAgent: device.userAgent };
    const issued = check.ok
      ? await this.rls.runAsUser(check.userId, async () => {
          if (!(await this.users.holdCredentials(check.userId, check.passwordHash))) return undefined;
          const opened = await this.sessions.open(check.userId, device);
          await this.audit.record({ type: 'auth.login.succeeded', userId: check.userId, actorId: check.userId, sessionId: opened.session.id, ...client });
          return opened;
        })
      : undefined;
    if (!issued) {
      const reason = check.ok ? 'password_changed' : check.reason;
      this.loginFailures.recordFailure(dto.email, device.ipAddress);
      this.logger.warn(new SecurityEvent({ msg: 'Login failed', event: 'auth.login.failed', userId: check.userId, reason }));
      // Audited for an existing account only (an unknown email has nobody to file it under); the
      // actor is unknown: whoever typed the password has not proven to be the account's owner.
      if (check.userId) await this.audit.record({ type: 'auth.login.failed', userId: check.userId, actorId: null, reason, ...client });
      throw new AppException(AppErrorCode.INVALID_CREDENTIALS);
    }
    this.loginFailures.clear(dto.email, device.ipAddress);
    this.logger.log(new SecurityEvent({ msg: 'Login succeeded', event: 'auth.login.succeeded', userId: issued.session.userId, sessionId: issued.session.id }));
    return { tokens: this.tokens(issued), refreshTokenExpiresAt: issued.expiresAt };
  }

  /** `client.userAgent`: the refreshing client's User-Agent (see `SessionsService.rotate`). */
  async refresh(refreshToken: string, client?: { userAgent: string | null }): Promise<TokensDto> {
    return (await this.rotate(refreshToken, client)).tokens;
  }

  /** `refresh`, also saying when the new refresh token expires. */
  async rotate(refreshToken: string, client?: { userAgent: string | null }): Promise<IssuedTokens> {
    const issued = await this.sessions.rotate(refreshToken, client);
    return { tokens: this.tokens(issued), refreshTokenExpiresAt: issued.expiresAt };
  }

  async logout(me: AuthPrincipal): Promise<void> {
    await this.sessions.logout(me);
  }

  /** Signs out the session whose current refresh token this is (401 otherwise). */
  async logoutWithRefreshToken(refreshToken: string): Promise<void> {
    await this.sessions.logoutWithRefreshToken(refreshToken);
  }

  async me(me: AuthPrincipal): Promise<UserDto> {
    return toUserDto(await this.users.getProfile(me.userId));
  }

  /**
   * bcrypt (check the current password, hash the new one) runs outside any transaction; then one
   * transaction re-checks the session, stores the hash under the account row's lock and revokes every
   * other session, so a sign-in racing the change either sees the new hash or has its session revoked.
   */
  async changePassword(me: AuthPrincipal, dto: ChangePasswordDto): Promise<void> {
    const change = await this.users.preparePasswordChange(me.userId, dto.currentPassword, dto.newPassword);
    const revoked = await this.rls.runAsUser(me.userId, async () => {
      await this.sessions.assertActive(me.sessionId);
      await this.users.commitPasswordChange(me.userId, change);
      const others = await this.sessions.revokeAll(me, false, 'password_change');
      await this.audit.record({ type: 'auth.password.changed', userId: me.userId, actorId: me.userId, sessionId: me.sessionId });
      return others;
    });
    this.logger.log(new SecurityEvent({ msg: 'Password changed', event: 'auth.password.changed', userId: me.userId, sessionId: me.sessionId, revokedSessions: revoked }));
  }

  private tokens(issued: IssuedSession): TokensDto {
    const { session, refreshToken } = issued;
    const access = this.accessTokens.sign(session.userId, session.id);
    return { accessToken: access.token, refreshToken, tokenType: 'Bearer', expiresIn: access.expiresIn, sessionId: session.id };
  }
}
