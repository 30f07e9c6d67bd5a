import { Controller, Get, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AuditLogService } from '../audit/audit-log.service';
import { AuthEventPageDto, PageQueryDto, toAuthEventDto } from '../audit/auth-event.dto';
import { ApiAuthenticated, ApiInvalidInput, ApiStandardErrors } from '../core/api-responses';
import { AuthRoutes } from './auth-routes.decorator';
import { AuthPrincipal, CurrentUser } from '../core/decorators';

@ApiTags('auth')
@ApiStandardErrors()
@AuthRoutes()
@Controller('auth')
export class AuthEventsController {
  constructor(private readonly audit: AuditLogService) {}

  @Get('events')
  @ApiAuthenticated()
  @ApiOperation({ summary: "The caller's security events", description: 'Sign-ins, failed sign-ins, revocations, password changes, admin actions on the account; newest first; cursor-paginated.' })
  @ApiOkResponse({ type: AuthEventPageDto, description: 'One page of events.' })
  @ApiInvalidInput(['limit must not be less than 1'], '`cursor` or `limit` is invalid.')
  async list(@Query() page: PageQueryDto, @CurrentUser() me: AuthPrincipal): Promise<AuthEventPageDto> {
    const result = await this.audit.listForUser(me.userId, page);
    return { items: result.items.map(toAuthEventDto), nextCursor: result.nextCursor };
  }
}
