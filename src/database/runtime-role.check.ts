import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { EntityManager } from '@mikro-orm/postgresql';
import { databaseErrorStatus } from '../core/app-exception.filter';
import { checkRuntimeRole, MODULE_ROLE_REMEDY, UnsafeRuntimeRoleError } from './runtime-role';

/**
 * AuthModule's check of the role its ORM really connects as — the module's own ORM or, with
 * `useHostOrm: true`, the host's: nothing runs on that connection while the role could get past Row
 * Level Security (superuser, BYPASSRLS, CREATEROLE, a member of such a role, or an owner of the
 * users/sessions tables, also through membership). See `checkRuntimeRole`.
 *
 * At start-up an unsafe role stops the application. A database that cannot be reached does not: the
 * service starts (and answers 503 until the database is back, like any outage), and the check runs
 * again before the first RLS transaction — `RlsContext` waits for `verified()`, so no request touches
 * a row on a connection nobody has checked.
 */
@Injectable()
export class RuntimeRoleCheck implements OnModuleInit {
  private readonly logger = new Logger('RuntimeRoleCheck');
  private passed = false;
  private running?: Promise<void>;

  constructor(private readonly em: EntityManager) {}

  async onModuleInit(): Promise<void> {
    try {
      await this.verified();
    } catch (err) {
      if (err instanceof UnsafeRuntimeRoleError || databaseErrorStatus(err) !== 503) throw err;
      this.logger.warn('The database is unreachable: the runtime role will be checked before the first request that needs it.');
    }
  }

  /** Resolves once the role has passed; rejects (and tries again next time) while it cannot be checked. */
  verified(): Promise<void> {
    if (this.passed) return Promise.resolve();
    this.running ??= this.check().finally(() => (this.running = undefined));
    return this.running;
  }

  private async check(): Promise<void> {
    // Outside any transaction, on the connection requests use (the primary: RLS transactions run there).
    const connection = this.em.getConnection('write');
    const report = await checkRuntimeRole((sql) => connection.execute(sql, [], 'all'));
    if (report.problems.length) throw new UnsafeRuntimeRoleError(report, MODULE_ROLE_REMEDY);
    this.passed = true;
  }
}
