import { Body, Controller, Delete, Get, HttpCode, HttpStatus, Param, ParseUUIDPipe, Patch, Query } from '@nestjs/common';
import { AuthPrincipal, CurrentUser } from '../auth/decorators';
import { RenameSessionDto, RevokeSessionsQueryDto, SessionDto } from './session.dto';
import { SessionsService } from './sessions.service';

@Controller('sessions')
export class SessionsController {
  constructor(private readonly sessions: SessionsService) {}

  @Get()
  list(@CurrentUser() me: AuthPrincipal): Promise<SessionDto[]> {
    return this.sessions.list(me.sessionId);
  }

  @Get(':id')
  get(@Param('id', ParseUUIDPipe) id: string, @CurrentUser() me: AuthPrincipal): Promise<SessionDto> {
    return this.sessions.get(id, me.sessionId);
  }

  @Patch(':id')
  rename(@Param('id', ParseUUIDPipe) id: string, @Body() body: RenameSessionDto, @CurrentUser() me: AuthPrincipal): Promise<SessionDto> {
    return this.sessions.rename(id, body.deviceName, me.sessionId);
  }

  @Delete(':id')
  @HttpCode(HttpStatus.NO_CONTENT)
  revoke(@Param('id', ParseUUIDPipe) id: string, @CurrentUser() me: AuthPrincipal): Promise<void> {
    return this.sessions.revoke(id, me.sessionId);
  }

  @Delete()
  async revokeAll(@Query() query: RevokeSessionsQueryDto, @CurrentUser() me: AuthPrincipal): Promise<{ revoked: number }> {
    return { revoked: await this.sessions.revokeAll(me.sessionId, query.includeCurrent === true, 'user_revoked') };
  }
}
