import { Injectable, Optional } from '@nestjs/common';
import { TransactionContext } from '@mikro-orm/core';
import { EntityManager } from '@mikro-orm/postgresql';
import type { ControlledTransaction } from 'kysely';
import { AuthSettings } from '../core/settings';
import { AppException } from '../core/app.exception';
import { RuntimeRoleCheck } from './runtime-role.check';
import { query } from './sql';

export const RLS_SETTING = 'app.current_user_id';

/**
 * The one way code reaches RLS-protected rows: inside a transaction whose first statement is
 * `set_config('app.current_user_id', <id>, true)`. The setting is transaction-local, so a pooled
 * connection never carries one user's id into another transaction.
 *
 * MikroORM 7.2's native session context does part of this; why this stays ours: `setCurrentUser` below.
 */
@Injectable()
export class RlsContext {
  /** DATABASE_STATEMENT_TIMEOUT_MS, when the module owns its connection (not with `useHostOrm`). */
  private readonly statementTimeout?: string;

  constructor(
    private readonly em: EntityManager,
    private readonly roleCheck: RuntimeRoleCheck,
    @Optional() settings?: AuthSettings,
  ) {
    if (settings?.database) this.statementTimeout = String(settings.database.statementTimeoutMs);
  }

  /**
   * Runs `fn` as `userId` (null: anonymous, sees no user-owned rows). Inside an open transaction
   * (a host route calling the library's services, say) the identity of that same transaction is
   * switched for `fn` only and put back when it ends, also when it throws; otherwise a new
   * transaction is opened on a fork. Everything `fn` does through the injected EntityManager or
   * repositories runs in that transaction.
   */
  async runAsUser<T>(userId: string | null, fn: (em: EntityManager) => Promise<T>): Promise<T> {
    const current = TransactionContext.getEntityManager(this.em.name) as EntityManager | undefined;
    if (current?.isInTransaction()) return this.switchIdentity(current, userId, fn);
    await this.roleCheck.verified();
    const outcome = await this.em.fork().transactional(async (em) => {
      await setCurrentUser(em, userId, this.statementTimeout);
      try {
        return { value: await fn(em) };
      } catch (err) {
        // Writes that must survive the failure (a revocation on token reuse) are committed first.
        if (err instanceof AppException && err.commit) return { error: err };
        throw err;
      }
    });
    if ('error' in outcome) throw outcome.error;
    return outcome.value;
  }

  private async switchIdentity<T>(em: EntityManager, userId: string | null, fn: (em: EntityManager) => Promise<T>): Promise<T> {
    const previous = await currentIdentity(em);
    if (previous === (userId ?? '')) return fn(em);
    await setCurrentUser(em, userId);
    let failed = false;
    try {
      return await fn(em);
    } catch (err) {
      failed = true;
      throw err;
    } finally {
      try {
        await setCurrentUser(em, previous || null);
      } catch (restoreError) {
        // After a failed statement the transaction is aborted and runs nothing more, as nobody: the
        // caller's error is the one to report. Otherwise the transaction must not go on as `userId`.
        if (!failed) throw restoreError;
      }
    }
  }
}

/**
 * The identity the transaction runs as ('' for anonymous). Kept per transaction by `setCurrentUser`;
 * a transaction opened by someone else (a host's own `em.transactional`) is asked.
 */
async function currentIdentity(em: EntityManager): Promise<string> {
  const trx = em.getTransactionContext<Transaction>()!;
  const known = identities.get(trx);
  if (known !== undefined) return known;
  const rows = await query<{ id: string | null }>(em, 'select current_setting(?, true) as id', [RLS_SETTING]);
  return rows[0]?.id ?? '';
}

type Transaction = ControlledTransaction<unknown>;
const identities = new WeakMap<Transaction, string>();

/**
 * Sets the RLS identity with server-side bound parameters (not client-side interpolation), and the
 * statement timeout, both transaction-local: behind a transaction-pooling PgBouncer a connection's
 * startup parameters cannot carry the timeout, and a session-level SET would stay on a server
 * connection that other clients share.
 *
 * MikroORM 7.2's native session context (`em.fork({ session: { variables } })`) also sends a
 * transaction-local `set_config`, but only when a transaction begins and with its values inlined into
 * the SQL text (`AbstractSqlConnection.applySessionContext` goes through `execute()`), and it cannot
 * switch the identity of an open transaction for one call and put it back (`runAsUser` above), so
 * this stays ours: see test/rls-session-context.spec.ts.
 */
async function setCurrentUser(em: EntityManager, userId: string | null, statementTimeout?: string): Promise<void> {
  const trx = em.getTransactionContext<Transaction>()!;
  if (statementTimeout === undefined) await query(em, 'select set_config(?, ?, true)', [RLS_SETTING, userId ?? '']);
  else await query(em, "select set_config(?, ?, true), set_config('statement_timeout', ?, true)", [RLS_SETTING, userId ?? '', statementTimeout]);
  identities.set(trx, userId ?? '');
}
