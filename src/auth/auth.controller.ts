import { Body, Controller, Get, HttpCode, HttpStatus, Post, Req, UseGuards } from '@nestjs/common';
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
import type { Request } from 'express';
import { ErrorDto } from '../core/error.dto';
import { WithoutRlsTransaction } from '../core/decorators';
import { ApiAuthenticated, ApiRateLimited, ApiStandardErrors } from '../core/api-responses';
import { deviceFromRequest, userAgentOf } from '../sessions/device';
import { ChangePasswordDto, LoginDto, RefreshDto, RegisterDto, TokensDto, UserDto } from './auth.dto';
import { AuthService } from './auth.service';
import { AuthPrincipal, CurrentUser, Public } from '../core/decorators';
import { AuthRateLimitGuard, RateLimited } from './rate-limit';

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
  constructor(private readonly auth: AuthService) {}

  @Public()
  @WithoutRlsTransaction()
  @Post('register')
  @RateLimited('register')
  @UseGuards(AuthRateLimitGuard)
  @ApiOperation({ summary: 'Create an account' })
  @ApiCreatedResponse({ type: UserDto, description: 'The new account.' })
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
  @ApiOperation({ summary: 'Sign in on a device', description: 'Opens a session and returns an access token and a refresh token.' })
  @ApiOkResponse({ type: TokensDto, description: 'Signed in: the tokens for the new session.' })
  @ApiUnauthorizedResponse({ type: ErrorDto, description: 'Unknown email, wrong password or inactive account (one answer for all).', example: { statusCode: 401, message: 'Invalid email or password', error: 'Unauthorized' } })
  @ApiConflictResponse({ type: ErrorDto, description: 'SESSION_LIMIT_POLICY=deny and the account already has SESSION_MAX_PER_USER active sessions.', example: { statusCode: 409, message: 'Session limit reached: sign out another session first', error: 'Conflict' } })
  @ApiRateLimited()
  login(@Body() body: LoginDto, @Req() req: Request): Promise<TokensDto> {
    return this.auth.login(body, deviceFromRequest(req, body));
  }

  @Public()
  @WithoutRlsTransaction()
  @Post('refresh')
  @HttpCode(HttpStatus.OK)
  @RateLimited('refresh')
  @UseGuards(AuthRateLimitGuard)
  @ApiOperation({
    summary: 'Rotate the refresh token',
    description: 'Returns new tokens. A repeat of the just-used token within the grace window gets the same new refresh token; an older one revokes the session.',
  })
  @ApiOkResponse({ type: TokensDto, description: 'A new access token and a new refresh token for the same session.' })
  @ApiUnauthorizedResponse({ type: ErrorDto, description: 'Invalid, expired, revoked or reused refresh token.', example: { statusCode: 401, message: 'Invalid or expired refresh token', error: 'Unauthorized' } })
  @ApiRateLimited()
  refresh(@Body() body: RefreshDto, @Req() req: Request): Promise<TokensDto> {
    return this.auth.refresh(body.refreshToken, { userAgent: userAgentOf(req) });
  }

  @Post('logout')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiAuthenticated()
  @ApiOperation({ summary: 'Sign out this session' })
  @ApiNoContentResponse({ description: 'The current session is revoked; its access and refresh tokens stop working.' })
  logout(@CurrentUser() me: AuthPrincipal): Promise<void> {
    return this.auth.logout(me);
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
  @ApiNoContentResponse({ description: 'Password changed; other sessions revoked.' })
  @ApiRateLimited()
  changePassword(@CurrentUser() me: AuthPrincipal, @Body() body: ChangePasswordDto): Promise<void> {
    return this.auth.changePassword(me, body);
  }
}
