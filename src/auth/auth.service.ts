import { Injectable, Logger } from '@nestjs/common';
import { AppErrorCode, AppException } from '../common/app.exception';
import { DeviceInfo } from '../sessions/device';
import { IssuedSession, SessionsService } from '../sessions/sessions.service';
import { User } from '../users/user.entity';
import { UsersService } from '../users/users.service';
import { AccessTokenService } from './access-token.service';
import { ChangePasswordDto, LoginDto, RegisterDto, TokensDto, UserDto } from './auth.dto';
import { AuthPrincipal } from './decorators';

export function toUserDto(user: User): UserDto {
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
    this.logger.log(`User ${user.id} registered`);
    return toUserDto(user);
  }

  async login(dto: LoginDto, device: DeviceInfo): Promise<TokensDto> {
    let userId: string;
    try {
      userId = await this.users.verifyCredentials(dto.email, dto.password);
    } catch (err) {
      if (err instanceof AppException && err.code === AppErrorCode.INVALID_CREDENTIALS) this.logger.warn('Login failed');
      throw err;
    }
    const issued = await this.sessions.open(userId, device);
    this.logger.log(`Login succeeded: user ${userId}, session ${issued.session.id}`);
    return this.tokens(issued);
  }

  async refresh(refreshToken: string): Promise<TokensDto> {
    return this.tokens(await this.sessions.rotate(refreshToken));
  }

  async logout(me: AuthPrincipal): Promise<void> {
    await this.sessions.logout(me.sessionId);
    this.logger.log(`Logout: user ${me.userId}, session ${me.sessionId}`);
  }

  async me(me: AuthPrincipal): Promise<UserDto> {
    return toUserDto(await this.users.getCurrent(me.userId));
  }

  async changePassword(me: AuthPrincipal, dto: ChangePasswordDto): Promise<void> {
    await this.users.changePassword(me.userId, dto.currentPassword, dto.newPassword);
    const revoked = await this.sessions.revokeAll(me.sessionId, false, 'password_change');
    this.logger.log(`Password changed: user ${me.userId}; ${revoked} other session(s) revoked`);
  }

  private tokens(issued: IssuedSession): TokensDto {
    const { session, refreshToken } = issued;
    const access = this.accessTokens.sign(session.userId, session.id);
    return { accessToken: access.token, refreshToken, tokenType: 'Bearer', expiresIn: access.expiresIn, sessionId: session.id };
  }
}
