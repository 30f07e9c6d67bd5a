import { Controller, Get, HttpStatus, Res } from '@nestjs/common';
import { EntityManager } from '@mikro-orm/postgresql';
import type { Response } from 'express';
import { Public } from '../auth/decorators';
import { WithoutRlsTransaction } from '../database/rls.interceptor';

const PING_TIMEOUT_MS = 2000;

@Controller('health')
export class HealthController {
  constructor(private readonly em: EntityManager) {}

  /** Liveness plus a database ping with a short timeout; 503 with a JSON body when the database is down. */
  @Public()
  @WithoutRlsTransaction()
  @Get()
  async check(@Res({ passthrough: true }) res: Response): Promise<{ status: string; database: string }> {
    const up = await this.ping();
    if (!up) {
      res.status(HttpStatus.SERVICE_UNAVAILABLE);
      return { status: 'error', database: 'down' };
    }
    return { status: 'ok', database: 'up' };
  }

  private async ping(): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), PING_TIMEOUT_MS)));
    const ping = this.em
      .fork()
      .getConnection()
      .execute('select 1')
      .then(() => true)
      .catch(() => false);
    try {
      return await Promise.race([ping, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}
