import { CompiledQuery, type ControlledTransaction, type Kysely } from 'kysely';

/** What `query` needs of an EntityManager (any SQL driver's, the repositories' included). */
export interface QueryableEntityManager {
  getTransactionContext<T>(): T | undefined;
  getConnection(): { getClient<T = unknown>(): Kysely<T> };
}

/**
 * Runs hand-written SQL in the current transaction (or on the pool) with server-side bound parameters:
 * `?` become `$1…` and the values travel apart from the text. MikroORM's `execute()` (v6 and v7 alike)
 * splices escaped values into the SQL text instead, where a NUL in user input cut the statement short
 * (SQLSTATE 08P01); bound, PostgreSQL rejects it as bad input. MikroORM 7 runs on Kysely, whose
 * `CompiledQuery.raw(sql, parameters)` is sent with bound parameters by its PostgreSQL driver.
 */
export async function query<T>(em: QueryableEntityManager, sql: string, params: readonly unknown[] = []): Promise<T[]> {
  const executor: Pick<Kysely<unknown>, 'executeQuery'> = em.getTransactionContext<ControlledTransaction<unknown>>() ?? em.getConnection().getClient();
  const result = await executor.executeQuery<T>(CompiledQuery.raw(positional(sql), [...params]));
  return result.rows as T[];
}

const POSITIONAL = new Map<string, string>();

/**
 * `?` placeholders as PostgreSQL's `$1, $2, …` (the statements here have no `?` of their own), kept per
 * statement text: the set of statements is fixed, and the rewrite showed in the hot paths' profile.
 */
function positional(sql: string): string {
  let text = POSITIONAL.get(sql);
  if (text === undefined) {
    let n = 0;
    text = sql.replace(/\?/g, () => `$${++n}`);
    if (POSITIONAL.size < 1000) POSITIONAL.set(sql, text);
  }
  return text;
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
