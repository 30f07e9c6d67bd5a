import { Body, Controller, Get, HttpCode, HttpStatus, Post, Req } from '@nestjs/common';
import type { Request } from 'express';
import { deviceFromRequest } from '../sessions/device';
import { ChangePasswordDto, LoginDto, RefreshDto, RegisterDto, TokensDto, UserDto } from './auth.dto';
import { AuthService } from './auth.service';
import { AuthPrincipal, CurrentUser, Public } from './decorators';

@Controller('auth')
export class AuthController {
  constructor(private readonly auth: AuthService) {}

  @Public()
  @Post('register')
  register(@Body() body: RegisterDto): Promise<UserDto> {
    return this.auth.register(body);
  }

  @Public()
  @Post('login')
  @HttpCode(HttpStatus.OK)
  login(@Body() body: LoginDto, @Req() req: Request): Promise<TokensDto> {
    return this.auth.login(body, deviceFromRequest(req, body));
  }

  @Public()
  @Post('refresh')
  @HttpCode(HttpStatus.OK)
  refresh(@Body() body: RefreshDto): Promise<TokensDto> {
    return this.auth.refresh(body.refreshToken);
  }

  @Post('logout')
  @HttpCode(HttpStatus.NO_CONTENT)
  logout(@CurrentUser() me: AuthPrincipal): Promise<void> {
    return this.auth.logout(me);
  }

  @Get('me')
  me(@CurrentUser() me: AuthPrincipal): Promise<UserDto> {
    return this.auth.me(me);
  }

  @Post('password')
  @HttpCode(HttpStatus.NO_CONTENT)
  changePassword(@CurrentUser() me: AuthPrincipal, @Body() body: ChangePasswordDto): Promise<void> {
    return this.auth.changePassword(me, body);
  }
}
