import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { InjectRepository } from '@mikro-orm/nestjs';
import { AuditLogService } from '../audit/audit-log.service';
import { AuthSettings } from '../core/settings';
import { RlsContext } from '../database/rls.context';
import { Session } from './session.entity';
import { SessionsRepository } from './sessions.repository';

/**
 * Deletes sessions that expired or were revoked more than SESSION_RETENTION seconds ago, in batches
 * of PURGE_BATCH_SIZE (one short transaction each), every PURGE_INTERVAL_SECONDS and on demand
 * (`npm run sessions:purge`); then, the same way, audit events older than AUDIT_RETENTION.
 */
@Injectable()
export class SessionsPurgeService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('SessionsPurge');
  private timer?: NodeJS.Timeout;
  private running?: Promise<number>;

  constructor(
    @InjectRepository(Session) private readonly sessions: SessionsRepository,
    private readonly rls: RlsContext,
    private readonly config: AuthSettings,
    private readonly audit: AuditLogService,
  ) {}

  onApplicationBootstrap(): void {
    const seconds = this.config.sessions.purgeIntervalSeconds;
    if (seconds > 0) {
      this.timer = setInterval(() => {
        this.purge().catch((err: Error) => this.logger.error(`Purge failed: ${err.name} ${(err as { code?: string }).code ?? ''}`));
      }, seconds * 1000);
      this.timer.unref();
    }
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.running?.catch(() => undefined);
  }

  /** Runs batches until one comes back short. Returns how many sessions were removed. */
  purge(): Promise<number> {
    this.running ??= this.purgeAll().finally(() => (this.running = undefined));
    return this.running;
  }

  private async purgeAll(): Promise<number> {
    const { retentionSeconds, purgeBatchSize } = this.config.sessions;
    let total = 0;
    for (;;) {
      const removed = await this.rls.runAsUser(null, () => this.sessions.purgeBatch(retentionSeconds, purgeBatchSize));
      total += removed;
      if (removed < purgeBatchSize) break;
    }
    if (total > 0) this.logger.log(`Purged ${total} ended sessions`);
    await this.audit.purge(this.config.audit.retentionSeconds, purgeBatchSize);
    return total;
  }
}
