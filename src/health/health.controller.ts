import { Controller, Get, HttpStatus, Res, ServiceUnavailableException } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { HealthCheckService, MikroOrmHealthIndicator } from '@nestjs/terminus';
import type { Response } from 'express';
import { Public } from '../auth/decorators';
import { WithoutRlsTransaction } from '../database/rls.interceptor';
import { HealthDto } from './health.dto';

export const PING_TIMEOUT_MS = 1500;

@ApiTags('health')
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly database: MikroOrmHealthIndicator,
  ) {}

  @Public()
  @WithoutRlsTransaction()
  @Get()
  @ApiOperation({ summary: 'Liveness and database ping', description: `Pings PostgreSQL with a ${PING_TIMEOUT_MS} ms timeout. No authentication.` })
  @ApiOkResponse({ type: HealthDto, description: 'The service and its database are up.' })
  @ApiServiceUnavailableResponse({ type: HealthDto, description: 'The database is unreachable.', example: { status: 'error', database: 'down' } })
  async check(@Res({ passthrough: true }) res: Response): Promise<HealthDto> {
    try {
      await this.health.check([() => this.database.pingCheck('database', { timeout: PING_TIMEOUT_MS })]);
      return { status: 'ok', database: 'up' };
    } catch (err) {
      if (!(err instanceof ServiceUnavailableException)) throw err;
      res.status(HttpStatus.SERVICE_UNAVAILABLE);
      return { status: 'error', database: 'down' };
    }
  }
}
