import { Controller, Get, HttpStatus, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { EntityManager } from '@mikro-orm/postgresql';
import type { Response } from 'express';
import { Public } from '../core/decorators';
import { WithoutRlsTransaction } from '../core/decorators';
import { HealthDto } from './health.dto';

export const PING_TIMEOUT_MS = 1500;

@ApiTags('health')
@Controller('health')
export class HealthController {
  constructor(private readonly em: EntityManager) {}

  @Public()
  @WithoutRlsTransaction()
  @Get()
  @ApiOperation({ summary: 'Liveness and database ping', description: `Pings PostgreSQL with a ${PING_TIMEOUT_MS} ms timeout. No authentication.` })
  @ApiOkResponse({ type: HealthDto, description: 'The service and its database are up.' })
  @ApiServiceUnavailableResponse({ type: HealthDto, description: 'The database is unreachable.', example: { status: 'error', database: 'down' } })
  async check(@Res({ passthrough: true }) res: Response): Promise<HealthDto> {
    if ((await this.ping()) === 'up') return { status: 'ok', database: 'up' };
    res.status(HttpStatus.SERVICE_UNAVAILABLE);
    return { status: 'error', database: 'down' };
  }

  /**
   * `select 1` on the pool, within PING_TIMEOUT_MS. (Terminus's MikroOrmHealthIndicator, used before,
   * asks MikroORM 7's `isConnected()`, which answers "not connected" until some query has opened the
   * pool — v7 connects lazily — so a service that had served nothing yet reported its database down.)
   */
  private async ping(): Promise<'up' | 'down'> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'down'>((resolve) => (timer = setTimeout(() => resolve('down'), PING_TIMEOUT_MS)));
    const select = this.em.getConnection().execute('select 1').then(
      () => 'up' as const,
      () => 'down' as const,
    );
    try {
      return await Promise.race([select, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}
