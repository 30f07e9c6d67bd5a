import { Injectable, Logger } from '@nestjs/common';
import { AppErrorCode, AppException } from '../common/app.exception';
import { DeviceInfo } from '../sessions/device';
import { IssuedSession, SessionsService } from '../sessions/sessions.service';
import type { UserProfile } from '../users/users.repository';
import { UsersService } from '../users/users.service';
import { AccessTokenService } from './access-token.service';
import { ChangePasswordDto, LoginDto, RegisterDto, TokensDto, UserDto } from './auth.dto';
import { AuthPrincipal } from './decorators';

export function toUserDto(user: UserProfile): UserDto {
  return { id: user.id, email: user.email, displayName: user.displayName ?? null, createdAt: user.createdAt.toISOString() };
}

@Injectable()
export class AuthService {
  private readonly logger = new Logger('Auth');

  constructor(
    private readonly users: UsersService,
    private readonly sessions: SessionsService,
    private readonly accessTokens: AccessTokenService,
  ) {}

  async register(dto: RegisterDto): Promise<UserDto> {
    const user = await this.users.register(dto);
    this.logger.log({ msg: 'User registered', event: 'auth.registered', userId: user.id });
    return toUserDto(user);
  }

  async login(dto: LoginDto, device: DeviceInfo): Promise<TokensDto> {
    const check = await this.users.checkCredentials(dto.email, dto.password);
    if (!check.ok) {
      this.logger.warn({ msg: 'Login failed', event: 'auth.login.failed', userId: check.userId, reason: check.reason });
      throw new AppException(AppErrorCode.INVALID_CREDENTIALS);
    }
    const issued = await this.sessions.open(check.userId, device);
    this.logger.log({ msg: 'Login succeeded', event: 'auth.login.succeeded', userId: check.userId, sessionId: issued.session.id });
    return this.tokens(issued);
  }

  async refresh(refreshToken: string): Promise<TokensDto> {
    return this.tokens(await this.sessions.rotate(refreshToken));
  }

  async logout(me: AuthPrincipal): Promise<void> {
    await this.sessions.logout(me);
  }

  async me(me: AuthPrincipal): Promise<UserDto> {
    return toUserDto(await this.users.getProfile(me.userId));
  }

  async changePassword(me: AuthPrincipal, dto: ChangePasswordDto): Promise<void> {
    await this.users.changePassword(me.userId, dto.currentPassword, dto.newPassword);
    const revoked = await this.sessions.revokeAll(me, false, 'password_change');
    this.logger.log({ msg: 'Password changed', event: 'auth.password.changed', userId: me.userId, sessionId: me.sessionId, revokedSessions: revoked });
  }

  private tokens(issued: IssuedSession): TokensDto {
    const { session, refreshToken } = issued;
    const access = this.accessTokens.sign(session.userId, session.id);
    return { accessToken: access.token, refreshToken, tokenType: 'Bearer', expiresIn: access.expiresIn, sessionId: session.id };
  }
}
