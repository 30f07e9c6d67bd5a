import { Options } from '@mikro-orm/core';
import { PostgreSqlDriver } from '@mikro-orm/postgresql';
import type { AuthSettings } from '../auth/auth-settings';
import { Session } from '../sessions/session.entity';
import { User } from '../users/user.entity';

/** The entities the modules need; a host app using its own MikroORM instance must register them. */
export const AUTH_ENTITIES = [User, Session];

/** MikroORM options for the runtime connection (the RLS-bound login role). */
export function runtimeOrmOptions(db: NonNullable<AuthSettings['database']>): Options<PostgreSqlDriver> {
  return {
    driver: PostgreSqlDriver,
    clientUrl: db.url,
    entities: AUTH_ENTITIES,
    discovery: { warnWhenNoEntities: true },
    allowGlobalContext: false,
    forceUtcTimezone: true,
    ensureDatabase: false,
    debug: false,
    pool: { min: 0, max: db.poolMax, idleTimeoutMillis: 30_000 },
    driverOptions: {
      acquireConnectionTimeout: db.acquireTimeoutMs,
      connection: {
        application_name: 'nest-rls-auth',
        // No `statement_timeout` startup parameter: PgBouncer refuses the connection ("unsupported
        // startup parameter"). RlsContext sets the timeout locally in every transaction instead.
        connectionTimeoutMillis: db.acquireTimeoutMs,
      },
    },
  };
}
