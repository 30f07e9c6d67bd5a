import { Options } from '@mikro-orm/core';
import { PostgreSqlDriver } from '@mikro-orm/postgresql';
import { AppConfig } from '../config/app-config';
import { Session } from '../sessions/session.entity';
import { User } from '../users/user.entity';

export const ENTITIES = [User, Session];

/** MikroORM options for the runtime connection (the RLS-bound login role). */
export function runtimeOrmOptions(config: AppConfig, runtimeUrl: string): Options<PostgreSqlDriver> {
  const db = config.database;
  return {
    driver: PostgreSqlDriver,
    clientUrl: runtimeUrl,
    entities: ENTITIES,
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
        statement_timeout: db.statementTimeoutMs,
        connectionTimeoutMillis: db.acquireTimeoutMs,
      },
    },
  };
}
