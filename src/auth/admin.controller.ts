import { Controller, Delete, Get, HttpCode, HttpStatus, Param, ParseUUIDPipe, Post, Query, UseInterceptors } from '@nestjs/common';
import { ApiForbiddenResponse, ApiNoContentResponse, ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { AuthEventPageDto, PageQueryDto, toAuthEventDto } from '../audit/auth-event.dto';
import { AuthRoutes } from './auth-routes.decorator';
import { AuthPrincipal, CurrentUser } from '../core/decorators';
import { ErrorDto } from '../core/error.dto';
import { ApiAuthenticated, ApiInvalidInput, ApiStandardErrors } from '../core/api-responses';
import { RevokedCountDto } from '../sessions/session.dto';
import { AdminAccessInterceptor } from '../admin/admin-access.interceptor';
import { AdminSessionsService } from '../admin/admin-sessions.service';
import { AdminSessionPageDto, AdminUserDto, IpPageQueryDto, IpQueryDto, toAdminSessionDto, toAdminUserDto } from '../admin/admin.dto';

const UserId = (): MethodDecorator => ApiParam({ name: 'userId', format: 'uuid', description: 'User id' });
const BadId = (): MethodDecorator => ApiInvalidInput('Validation failed (uuid is expected)', 'The id is not a UUID.');
const BadIdOrPage = (): MethodDecorator =>
  ApiInvalidInput('Validation failed (uuid is expected)', 'The id is not a UUID, or `cursor`/`limit` is invalid.');
const BadIp = (): MethodDecorator =>
  ApiInvalidInput(['ip must be an IP address or a CIDR subnet (e.g. 203.0.113.7 or 10.0.0.0/8)'], '`ip` is missing or not an address or subnet.');
const UserNotFound = (): MethodDecorator =>
  ApiNotFoundResponse({ type: ErrorDto, description: 'No user with this id.', example: { statusCode: 404, message: 'User not found', error: 'Not Found' } });

/**
 * Operators' routes. Every one is refused with 403 unless the database says the caller is an active
 * admin (`AdminAccessInterceptor`, then each admin function again); revocations take effect on the
 * target's next request, and each change is in the audit log with the admin as actor.
 */
@ApiTags('admin')
@ApiAuthenticated()
@ApiStandardErrors()
@ApiForbiddenResponse({
  type: ErrorDto,
  description: 'The caller is not an active admin (decided by the database on every request).',
  example: { statusCode: 403, message: 'Admin role required', error: 'Forbidden' },
})
@UseInterceptors(AdminAccessInterceptor)
@AuthRoutes()
@Controller('admin')
export class AdminController {
  constructor(private readonly admin: AdminSessionsService) {}

  @Get('users/:userId/sessions')
  @ApiOperation({ summary: "A user's active sessions", description: 'Device, IP, user agent and timestamps; most recently used first; cursor-paginated.' })
  @UserId()
  @ApiOkResponse({ type: AdminSessionPageDto, description: 'One page of active sessions.' })
  @BadIdOrPage()
  @UserNotFound()
  async listUserSessions(@Param('userId', ParseUUIDPipe) userId: string, @Query() page: PageQueryDto, @CurrentUser() me: AuthPrincipal): Promise<AdminSessionPageDto> {
    const result = await this.admin.listUserSessions(me.userId, userId, page);
    return { items: result.items.map(toAdminSessionDto), nextCursor: result.nextCursor };
  }

  @Delete('users/:userId/sessions')
  @ApiOperation({ summary: "Revoke all of a user's sessions", description: 'Reason `admin_action`. Their tokens stop working on the next request.' })
  @UserId()
  @ApiOkResponse({ type: RevokedCountDto, description: 'How many sessions were revoked.' })
  @BadId()
  @UserNotFound()
  async revokeUserSessions(@Param('userId', ParseUUIDPipe) userId: string, @CurrentUser() me: AuthPrincipal): Promise<RevokedCountDto> {
    return { revoked: await this.admin.revokeUserSessions(me.userId, userId) };
  }

  @Get('users/:userId/events')
  @ApiOperation({ summary: "A user's audit events", description: 'Newest first; cursor-paginated. Also for an account that no longer exists.' })
  @UserId()
  @ApiOkResponse({ type: AuthEventPageDto, description: 'One page of events.' })
  @BadIdOrPage()
  async listUserEvents(@Param('userId', ParseUUIDPipe) userId: string, @Query() page: PageQueryDto, @CurrentUser() me: AuthPrincipal): Promise<AuthEventPageDto> {
    const result = await this.admin.listUserEvents(me.userId, userId, page);
    return { items: result.items.map(toAuthEventDto), nextCursor: result.nextCursor };
  }

  @Post('users/:userId/deactivate')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({ summary: 'Deactivate an account', description: 'Revokes every session (`admin_action`); sign-in and refresh are refused until reactivated.' })
  @UserId()
  @ApiOkResponse({ type: AdminUserDto, description: 'The account, now inactive.' })
  @BadId()
  @UserNotFound()
  async deactivate(@Param('userId', ParseUUIDPipe) userId: string, @CurrentUser() me: AuthPrincipal): Promise<AdminUserDto> {
    return toAdminUserDto(await this.admin.deactivateUser(me.userId, userId));
  }

  @Post('users/:userId/reactivate')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({ summary: 'Reactivate an account', description: 'Sign-in works again; revoked sessions stay revoked.' })
  @UserId()
  @ApiOkResponse({ type: AdminUserDto, description: 'The account, now active.' })
  @BadId()
  @UserNotFound()
  async reactivate(@Param('userId', ParseUUIDPipe) userId: string, @CurrentUser() me: AuthPrincipal): Promise<AdminUserDto> {
    return toAdminUserDto(await this.admin.reactivateUser(me.userId, userId));
  }

  @Delete('sessions/:sessionId')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({ summary: 'Revoke one session', description: 'Reason `admin_action`. Its tokens stop working on the next request.' })
  @ApiParam({ name: 'sessionId', format: 'uuid', description: 'Session id' })
  @ApiNoContentResponse({ description: 'Revoked.' })
  @BadId()
  @ApiNotFoundResponse({ type: ErrorDto, description: 'No active session with this id.', example: { statusCode: 404, message: 'Session not found', error: 'Not Found' } })
  revokeSession(@Param('sessionId', ParseUUIDPipe) sessionId: string, @CurrentUser() me: AuthPrincipal): Promise<void> {
    return this.admin.revokeSession(me.userId, sessionId);
  }

  @Get('sessions')
  @ApiOperation({ summary: 'Active sessions from an address or subnet', description: 'Across users, ordered by IP; cursor-paginated. Served by the index on sessions.ip_address.' })
  @ApiOkResponse({ type: AdminSessionPageDto, description: 'One page of active sessions.' })
  @BadIp()
  async listByIp(@Query() query: IpPageQueryDto, @CurrentUser() me: AuthPrincipal): Promise<AdminSessionPageDto> {
    const result = await this.admin.listSessionsByIp(me.userId, query.ip, query);
    return { items: result.items.map(toAdminSessionDto), nextCursor: result.nextCursor };
  }

  @Delete('sessions')
  @ApiOperation({ summary: 'Revoke the sessions from an address or subnet', description: 'Reason `suspicious_activity`; the sessions GET /admin/sessions lists.' })
  @ApiOkResponse({ type: RevokedCountDto, description: 'How many sessions were revoked.' })
  @BadIp()
  async revokeByIp(@Query() query: IpQueryDto, @CurrentUser() me: AuthPrincipal): Promise<RevokedCountDto> {
    return { revoked: await this.admin.revokeSessionsByIp(me.userId, query.ip) };
  }
}
