import { Injectable } from '@nestjs/common';
import { TransactionContext } from '@mikro-orm/core';
import { EntityManager } from '@mikro-orm/postgresql';
import { AppException } from '../common/app.exception';

export const RLS_SETTING = 'app.current_user_id';

/**
 * The one way code reaches RLS-protected rows: inside a transaction whose first statement is
 * `set_config('app.current_user_id', <id>, true)`. The setting is transaction-local, so a pooled
 * connection never carries one user's id into another transaction.
 *
 * MikroORM 7.2 can do this natively (`em.fork({ session: { variables } })`); keep it in this file.
 */
@Injectable()
export class RlsContext {
  constructor(private readonly em: EntityManager) {}

  /**
   * Runs `fn` as `userId` (null: anonymous, sees no user-owned rows). Inside an open transaction
   * (a request, or a flow that learns the user mid-request) the identity of that same transaction is
   * switched; otherwise a new transaction is opened on a fork. Everything `fn` does through the
   * injected EntityManager or repositories runs in that transaction.
   */
  async runAsUser<T>(userId: string | null, fn: (em: EntityManager) => Promise<T>): Promise<T> {
    const current = TransactionContext.getEntityManager(this.em.name) as EntityManager | undefined;
    if (current?.isInTransaction()) {
      await setCurrentUser(current, userId);
      return fn(current);
    }
    const outcome = await this.em.fork().transactional(async (em) => {
      await setCurrentUser(em, userId);
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
}

/** Sets the RLS identity with server-side bound parameters (not client-side interpolation). */
async function setCurrentUser(em: EntityManager, userId: string | null): Promise<void> {
  await em
    .getConnection()
    .getKnex()
    .raw('select set_config(?, ?, true)', [RLS_SETTING, userId ?? ''])
    .transacting(em.getTransactionContext()!);
}
