import type { EntityManager, Knex } from '@mikro-orm/postgresql';

/**
 * Runs hand-written SQL in the current transaction with server-side bound parameters (`?` become
 * `$1…`). MikroORM's `execute()` splices escaped values into the SQL text instead, where a NUL in
 * user input cut the statement short (SQLSTATE 08P01); bound, PostgreSQL rejects it as bad input.
 */
export async function query<T>(em: EntityManager, sql: string, params: readonly Knex.RawBinding[] = []): Promise<T[]> {
  const raw = em.getConnection().getKnex().raw(sql, params);
  const trx = em.getTransactionContext();
  if (trx) raw.transacting(trx);
  const result = (await raw) as { rows: T[] };
  return result.rows;
}

/**
 * MikroORM's PostgreSQL connection leaves timestamps as text for its own hydration; raw rows are
 * parsed with the same platform function.
 */
export function dateParser(em: { getPlatform(): { parseDate(value: string | number): Date | string } }): (value: string | Date) => Date {
  const platform = em.getPlatform();
  return (value) => {
    if (value instanceof Date) return value;
    const parsed = platform.parseDate(value);
    if (!(parsed instanceof Date)) throw new Error('unparseable timestamp from the database');
    return parsed;
  };
}
