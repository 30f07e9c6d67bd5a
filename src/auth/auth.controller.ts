import { Body, Controller, Get, HttpCode, HttpStatus, Post, Req, Res, UseGuards } from '@nestjs/common';
import { AuthRoutes } from './auth-routes.decorator';
import {
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { ErrorDto } from '../core/error.dto';
import { WithoutRlsTransaction } from '../core/decorators';
import { ApiAuthenticated, ApiInvalidInput, ApiRateLimited, ApiRefreshCookie, ApiStandardErrors } from '../core/api-responses';
import { deviceFromRequest, userAgentOf } from '../sessions/device';
import { ChangePasswordDto, LoginDto, RefreshDto, RegisterDto, TokensDto, UserDto } from './auth.dto';
import { AuthService } from './auth.service';
import { AuthPrincipal, CurrentUser, Public } from '../core/decorators';
import { AuthRateLimitGuard, RateLimited } from './rate-limit';
import { RefreshCookieCsrfGuard } from './csrf.guard';
import { DeliveredTokens, RefreshCookies } from './refresh-cookie';
import { BearerOrRefreshCookieGuard } from './refresh-cookie-auth.guard';

/**
 * Register, login, refresh and password change are `@WithoutRlsTransaction()`: their services open
 * short transactions of their own around the database work, so no pooled connection waits on bcrypt
 * (~200 ms at cost 12) and each transaction runs as the user it is for from its first statement.
 */
@ApiTags('auth')
@ApiStandardErrors()
@AuthRoutes()
@Controller('auth')
export class AuthController {
  constructor(
    private readonly auth: AuthService,
    private readonly cookies: RefreshCookies,
  ) {}

  @Public()
  @WithoutRlsTransaction()
  @Post('register')
  @RateLimited('register')
  @UseGuards(AuthRateLimitGuard)
  @ApiOperation({ summary: 'Create an account' })
  @ApiCreatedResponse({ type: UserDto, description: 'The new account.' })
  @ApiInvalidInput(['email must be a valid email address'])
  @ApiConflictResponse({ type: ErrorDto, description: 'The email is already registered.', example: { statusCode: 409, message: 'Email is already registered', error: 'Conflict' } })
  @ApiRateLimited()
  register(@Body() body: RegisterDto): Promise<UserDto> {
    return this.auth.register(body);
  }

  @Public()
  @WithoutRlsTransaction()
  @Post('login')
  @HttpCode(HttpStatus.OK)
  @RateLimited('login')
  @UseGuards(AuthRateLimitGuard)
  @ApiOperation({
    summary: 'Sign in on a device',
    description: 'Opens a session and returns an access token and a refresh token (in the body, or as the refresh-token cookie: see `refreshTokenTransport`).',
  })
  @ApiOkResponse({ type: TokensDto, description: 'Signed in: the tokens for the new session.' })
  @ApiInvalidInput(['deviceType must be one of: mobile, desktop, web, unknown'])
  @ApiUnauthorizedResponse({ type: ErrorDto, description: 'Unknown email, wrong password or inactive account (one answer for all).', example: { statusCode: 401, message: 'Invalid email or password', error: 'Unauthorized' } })
  @ApiConflictResponse({ type: ErrorDto, description: 'SESSION_LIMIT_POLICY=deny and the account already has SESSION_MAX_PER_USER active sessions.', example: { statusCode: 409, message: 'Session limit reached: sign out another session first', error: 'Conflict' } })
  @ApiRateLimited()
  async login(@Body() body: LoginDto, @Req() req: Request, @Res({ passthrough: true }) res: Response): Promise<DeliveredTokens> {
    const by = this.cookies.forLogin(body.refreshTokenTransport);
    return this.cookies.deliver(req, res, by, await this.auth.signIn(body, deviceFromRequest(req, body)));
  }

  @Public()
  @WithoutRlsTransaction()
  @Post('refresh')
  @HttpCode(HttpStatus.OK)
  @RateLimited('refresh')
  @UseGuards(RefreshCookieCsrfGuard, AuthRateLimitGuard)
  @ApiOperation({
    summary: 'Rotate the refresh token',
    description:
      'Returns new tokens. A repeat of the just-used token within the grace window gets the same new refresh token; an older one revokes the session. ' +
      'A token sent in the refresh-token cookie is answered with the cookie (a refused one clears it).',
  })
  @ApiRefreshCookie({ orAnonymous: true })
  @ApiOkResponse({ type: TokensDto, description: 'A new access token and a new refresh token for the same session.' })
  @ApiInvalidInput(['refreshToken must be shorter than or equal to 512 characters'])
  @ApiUnauthorizedResponse({ type: ErrorDto, description: 'Invalid, expired, revoked or reused refresh token.', example: { statusCode: 401, message: 'Invalid or expired refresh token', error: 'Unauthorized' } })
  @ApiRateLimited()
  async refresh(@Body() body: RefreshDto, @Req() req: Request, @Res({ passthrough: true }) res: Response): Promise<DeliveredTokens> {
    const { token, by } = await this.cookies.forRefresh(req, body);
    return this.cookies.deliver(req, res, by, await this.cookies.clearOnRefusal(req, res, by, this.auth.rotate(token, { userAgent: userAgentOf(req) })));
  }

  /** `@Public()` for the global guard: `BearerOrRefreshCookieGuard` authenticates (bearer token, else the cookie). */
  @Public()
  @Post('logout')
  @HttpCode(HttpStatus.NO_CONTENT)
  @UseGuards(RefreshCookieCsrfGuard, BearerOrRefreshCookieGuard)
  @ApiAuthenticated()
  @ApiRefreshCookie()
  @ApiOperation({ summary: 'Sign out this session', description: 'The session of the bearer token or, without one, of the refresh-token cookie. Clears the cookie.' })
  @ApiNoContentResponse({
    description:
      'The current session is revoked; its access and refresh tokens stop working. In Swagger UI, then open **Authorize** and ' +
      'click **Logout**: until you do, the UI keeps sending the revoked token, and protected routes answer 401.',
  })
  async logout(@CurrentUser() me: AuthPrincipal | undefined, @Req() req: Request, @Res({ passthrough: true }) res: Response): Promise<void> {
    const cookie = this.cookies.read(req);
    if (me) {
      await this.auth.logout(me);
      if (cookie !== undefined && this.cookies.belongsTo(cookie, me.sessionId)) this.cookies.clear(req, res);
      return;
    }
    // No bearer token: BearerOrRefreshCookieGuard let the request through because it carries the cookie.
    await this.cookies.clearOnRefusal(req, res, 'cookie', this.auth.logoutWithRefreshToken(cookie!));
    this.cookies.clear(req, res);
  }

  @Get('me')
  @ApiAuthenticated()
  @ApiOperation({ summary: 'The signed-in account' })
  @ApiOkResponse({ type: UserDto, description: 'The account the access token belongs to.' })
  me(@CurrentUser() me: AuthPrincipal): Promise<UserDto> {
    return this.auth.me(me);
  }

  @Post('password')
  @WithoutRlsTransaction()
  @HttpCode(HttpStatus.NO_CONTENT)
  @RateLimited('password')
  @UseGuards(AuthRateLimitGuard)
  @ApiAuthenticated()
  @ApiOperation({ summary: 'Change the password', description: 'Revokes every other session; this one keeps working. Rate-limited per user and per client IP.' })
  @ApiInvalidInput(['newPassword must be a string of 8 to 72 bytes (UTF-8) without NUL characters'])
  @ApiNoContentResponse({ description: 'Password changed; other sessions revoked.' })
  @ApiRateLimited()
  changePassword(@CurrentUser() me: AuthPrincipal, @Body() body: ChangePasswordDto): Promise<void> {
    return this.auth.changePassword(me, body);
  }
}
