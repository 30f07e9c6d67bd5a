import { Options } from '@mikro-orm/core';
import { ReflectMetadataProvider } from '@mikro-orm/decorators/legacy';
import { PostgreSqlDriver } from '@mikro-orm/postgresql';
import type { AuthSettings } from '../core/settings';
import { Session } from '../sessions/session.entity';
import { User } from '../users/user.entity';

/** The entities the modules need; a host app using its own MikroORM instance must register them. */
export const AUTH_ENTITIES = [User, Session];

/** MikroORM options for the runtime connection (the RLS-bound login role). */
export function runtimeOrmOptions(db: NonNullable<AuthSettings['database']>): Partial<Options<PostgreSqlDriver>> {
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
    metadataProvider: ReflectMetadataProvider,
    // pg.Pool options. `connectionTimeoutMillis` bounds both opening a connection and waiting for a
    // free one in a full pool ("timeout exceeded when trying to connect", answered as 503).
    driverOptions: {
      application_name: 'nest-rls-auth',
      // No `statement_timeout` startup parameter: PgBouncer refuses the connection ("unsupported
      // startup parameter"). RlsContext sets the timeout locally in every transaction instead.
      connectionTimeoutMillis: db.acquireTimeoutMs,
    },
  };
}
