import type { AuthModuleOptions } from '../core/settings';
import type { LOG_LEVELS, NODE_ENVS } from './environment';

export type NodeEnv = (typeof NODE_ENVS)[number];

/**
 * The standalone service's configuration, as `loadConfig` reads it from the environment: its HTTP,
 * logging and database set-up, and the `AuthModuleOptions` it hands to `AuthModule` (`auth`). A plain
 * value passed to `createApp` and `prepareDatabase`; host apps never see it.
 */
export interface ServiceConfig {
  env: NodeEnv;
  http: {
    host: string;
    port: number;
    /** Express `trust proxy`: false, true, a hop count, or a comma-separated list of addresses/subnets. */
    trustProxy: boolean | number | string;
    bodyLimit: string;
    /** Allowed CORS origins; empty means CORS is off (no Access-Control-* headers). */
    corsOrigins: string[];
    /** Serve Swagger UI at /docs and the OpenAPI document at /docs-json (default: off in production, on elsewhere). */
    docsEnabled: boolean;
    /** Serve the example web client (examples/web) at /example/ (default off). */
    exampleWebEnabled: boolean;
  };
  logging: { level: (typeof LOG_LEVELS)[number] };
  database: {
    /** Owner connection (migrations, role bootstrap). Undefined: an embedded PostgreSQL is started. */
    url?: string;
    /** Runtime connection override (e.g. through PgBouncer). Default: `url` with the runtime role's credentials. */
    appUrl?: string;
    appUser: string;
    appPassword: string;
    migrateOnStart: boolean;
    embedded: { dir: string; port: number; database: string };
  };
  /** The module's options; `database.url` (the runtime URL) is filled in once the database is ready. */
  auth: Omit<AuthModuleOptions, 'database'> & { database: Omit<NonNullable<AuthModuleOptions['database']>, 'url'> };
  /** Names of the secrets that were generated because the environment did not set them (never outside development/test). */
  generatedSecrets: string[];
  /** Settings that are allowed here but unsafe (refused in production); the service logs each at start. */
  warnings: string[];
}
