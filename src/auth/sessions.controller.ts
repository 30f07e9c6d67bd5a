import { Body, Controller, Delete, Get, HttpCode, HttpStatus, Param, ParseUUIDPipe, Patch, Query } from '@nestjs/common';
import { AuthRoutes } from './auth-routes.decorator';
import { ApiNoContentResponse, ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { AuthPrincipal, CurrentUser } from '../core/decorators';
import { ErrorDto } from '../core/error.dto';
import { ApiAuthenticated, ApiInvalidInput, ApiStandardErrors } from '../core/api-responses';
import { RenameSessionDto, RevokedCountDto, RevokeSessionsQueryDto, SessionDto } from '../sessions/session.dto';
import { SessionsService } from '../sessions/sessions.service';

const SessionNotFound = (): MethodDecorator =>
  ApiNotFoundResponse({
    type: ErrorDto,
    description: 'No active session with this id for the caller (another user\'s id answers the same).',
    example: { statusCode: 404, message: 'Session not found', error: 'Not Found' },
  });
const SessionId = (): MethodDecorator => ApiParam({ name: 'id', format: 'uuid', description: 'Session id' });
const BadSessionId = (): MethodDecorator => ApiInvalidInput('Validation failed (uuid is expected)', 'The id is not a UUID.');

@ApiTags('sessions')
@ApiAuthenticated()
@ApiStandardErrors()
@AuthRoutes()
@Controller('sessions')
export class SessionsController {
  constructor(private readonly sessions: SessionsService) {}

  @Get()
  @ApiOperation({ summary: "The caller's active sessions", description: '`current` marks the session making the call.' })
  @ApiOkResponse({ type: SessionDto, isArray: true, description: 'Active sessions, the current one included.' })
  list(@CurrentUser() me: AuthPrincipal): Promise<SessionDto[]> {
    return this.sessions.list(me.sessionId);
  }

  @Get(':id')
  @ApiOperation({ summary: 'One active session' })
  @SessionId()
  @ApiOkResponse({ type: SessionDto, description: 'The session.' })
  @BadSessionId()
  @SessionNotFound()
  get(@Param('id', ParseUUIDPipe) id: string, @CurrentUser() me: AuthPrincipal): Promise<SessionDto> {
    return this.sessions.get(id, me.sessionId);
  }

  @Patch(':id')
  @ApiOperation({ summary: 'Rename a session' })
  @SessionId()
  @ApiOkResponse({ type: SessionDto, description: 'The renamed session.' })
  @ApiInvalidInput(['deviceName must be shorter than or equal to 100 characters'], 'The id is not a UUID, or the body is invalid.')
  @SessionNotFound()
  rename(@Param('id', ParseUUIDPipe) id: string, @Body() body: RenameSessionDto, @CurrentUser() me: AuthPrincipal): Promise<SessionDto> {
    return this.sessions.rename(id, body.deviceName, me.sessionId);
  }

  @Delete(':id')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({ summary: 'Revoke a session', description: 'Its tokens stop working at once.' })
  @SessionId()
  @ApiNoContentResponse({ description: 'Revoked.' })
  @BadSessionId()
  @SessionNotFound()
  revoke(@Param('id', ParseUUIDPipe) id: string, @CurrentUser() me: AuthPrincipal): Promise<void> {
    return this.sessions.revoke(id, me);
  }

  @Delete()
  @ApiOperation({ summary: 'Revoke the other sessions (or all)', description: 'Sign out every other device; with includeCurrent=true, this one too.' })
  @ApiOkResponse({ type: RevokedCountDto, description: 'How many sessions were revoked.' })
  @ApiInvalidInput(['includeCurrent must be true or false'], 'includeCurrent is not true or false.')
  async revokeAll(@Query() query: RevokeSessionsQueryDto, @CurrentUser() me: AuthPrincipal): Promise<RevokedCountDto> {
    return { revoked: await this.sessions.revokeAll(me, query.includeCurrent === true, 'user_revoked') };
  }
}
