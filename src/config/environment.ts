/**
 * The standalone service's environment variables: each one's name, where it lands in `ServiceConfig`
 * and how its text is read. Variables under `auth.` are `AuthModuleOptions`: their defaults and
 * rules live in `core/settings.ts` only. The service's own variables carry their default and rule here.
 */
export type Kind = 'string' | 'integer' | 'boolean';
export type Check = (value: any) => string | undefined;

export interface Variable {
  name: string;
  /** Dotted path in `ServiceConfig`. */
  path: string;
  kind: Kind;
  /** Service variables only; an `auth.` variable left unset takes `AUTH_DEFAULTS`. */
  default?: string | number | boolean;
  check?: Check;
}

const between = (min: number, max: number): Check => (v: number) => (v >= min && v <= max ? undefined : `must be an integer from ${min} to ${max}`);
const matches = (re: RegExp, message: string): Check => (v: string) => (re.test(v) ? undefined : message);
const oneOf = (values: readonly string[]): Check => (v: string) => (values.includes(v) ? undefined : `must be one of: ${values.join(', ')}`);
const PG_ROLE = /^[a-z_][a-z0-9_]{0,62}$/;
const POSTGRES_URL = matches(/^postgres(ql)?:\/\/\S+$/, 'must be a postgres:// URL');
export const NODE_ENVS = ['development', 'test', 'production'] as const;
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const VARIABLES: readonly Variable[] = [
  { name: 'NODE_ENV', path: 'env', kind: 'string', default: 'development', check: oneOf(NODE_ENVS) },
  // HTTP
  { name: 'HOST', path: 'http.host', kind: 'string', default: '127.0.0.1' },
  { name: 'PORT', path: 'http.port', kind: 'integer', default: 3000, check: between(0, 65_535) },
  {
    name: 'TRUST_PROXY', path: 'http.trustProxy', kind: 'string', default: 'false',
    check: matches(/^(true|false|\d+|[0-9a-fA-F.:/, ]+|loopback|linklocal|uniquelocal)$/, 'must be true, false, a hop count or a comma-separated list of addresses/subnets'),
  },
  { name: 'BODY_LIMIT', path: 'http.bodyLimit', kind: 'string', default: '16kb', check: matches(/^\d+(b|kb|mb)?$/i, 'must look like 16kb') },
  {
    name: 'CORS_ORIGINS', path: 'http.corsOrigins', kind: 'string', default: '',
    check: matches(/^$|^(https?:\/\/[^\s,]+)(\s*,\s*https?:\/\/[^\s,]+)*$/, 'must be a comma-separated list of http(s) origins'),
  },
  // No default: unset means off in production, on elsewhere (loadConfig).
  { name: 'DOCS_ENABLED', path: 'http.docsEnabled', kind: 'boolean' },
  // Serve the example web client (examples/web) at /example/; `npm run example:web` turns it on.
  { name: 'EXAMPLE_WEB_ENABLED', path: 'http.exampleWebEnabled', kind: 'boolean', default: false },
  { name: 'LOG_LEVEL', path: 'logging.level', kind: 'string', default: 'info', check: oneOf(LOG_LEVELS) },
  // Database: the owner connection, the runtime role, the embedded server
  { name: 'DATABASE_URL', path: 'database.url', kind: 'string', check: POSTGRES_URL },
  { name: 'DATABASE_APP_URL', path: 'database.appUrl', kind: 'string', check: POSTGRES_URL },
  { name: 'DATABASE_APP_USER', path: 'database.appUser', kind: 'string', default: 'nest_rls_app', check: matches(PG_ROLE, 'must be a lower-case PostgreSQL identifier') },
  { name: 'DATABASE_APP_PASSWORD', path: 'database.appPassword', kind: 'string', check: (v: string) => (v.length >= 16 ? undefined : 'must be at least 16 characters') },
  { name: 'MIGRATE_ON_START', path: 'database.migrateOnStart', kind: 'boolean', default: true },
  { name: 'EMBEDDED_PG_DIR', path: 'database.embedded.dir', kind: 'string', default: '.data/postgres' },
  { name: 'EMBEDDED_PG_PORT', path: 'database.embedded.port', kind: 'integer', default: 54329, check: between(1, 65_535) },
  { name: 'EMBEDDED_PG_DATABASE', path: 'database.embedded.database', kind: 'string', default: 'nest_rls_auth', check: matches(PG_ROLE, 'must be a lower-case PostgreSQL identifier') },
  // AuthModuleOptions (defaults and rules: core/settings.ts)
  { name: 'DATABASE_POOL_MAX', path: 'auth.database.poolMax', kind: 'integer' },
  { name: 'DATABASE_ACQUIRE_TIMEOUT_MS', path: 'auth.database.acquireTimeoutMs', kind: 'integer' },
  { name: 'DATABASE_STATEMENT_TIMEOUT_MS', path: 'auth.database.statementTimeoutMs', kind: 'integer' },
  { name: 'JWT_ALGORITHM', path: 'auth.accessToken.algorithm', kind: 'string' },
  { name: 'JWT_ACCESS_SECRET', path: 'auth.accessToken.secret', kind: 'string' },
  { name: 'JWT_PRIVATE_KEY', path: 'auth.accessToken.privateKeyPem', kind: 'string' },
  { name: 'JWT_KEY_ID', path: 'auth.accessToken.keyId', kind: 'string' },
  { name: 'JWT_PREVIOUS_PUBLIC_KEYS', path: 'auth.accessToken.previousPublicKeys', kind: 'string' },
  { name: 'JWT_ISSUER', path: 'auth.accessToken.issuer', kind: 'string' },
  { name: 'JWT_AUDIENCE', path: 'auth.accessToken.audience', kind: 'string' },
  { name: 'ACCESS_TOKEN_TTL', path: 'auth.accessToken.ttlSeconds', kind: 'integer' },
  { name: 'REFRESH_TOKEN_SECRET', path: 'auth.refreshToken.secret', kind: 'string' },
  { name: 'REFRESH_TOKEN_TTL', path: 'auth.refreshToken.ttlSeconds', kind: 'integer' },
  { name: 'REFRESH_GRACE_SECONDS', path: 'auth.refreshToken.graceSeconds', kind: 'integer' },
  { name: 'REFRESH_TOKEN_TRANSPORT', path: 'auth.refreshToken.transport', kind: 'string' },
  { name: 'SESSION_IDLE_TIMEOUT', path: 'auth.sessions.idleTimeoutSeconds', kind: 'integer' },
  { name: 'SESSION_ABSOLUTE_LIFETIME', path: 'auth.sessions.absoluteLifetimeSeconds', kind: 'integer' },
  { name: 'SESSION_RETENTION', path: 'auth.sessions.retentionSeconds', kind: 'integer' },
  { name: 'PURGE_INTERVAL_SECONDS', path: 'auth.sessions.purgeIntervalSeconds', kind: 'integer' },
  { name: 'PURGE_BATCH_SIZE', path: 'auth.sessions.purgeBatchSize', kind: 'integer' },
  { name: 'SESSION_MAX_PER_USER', path: 'auth.sessions.maxPerUser', kind: 'integer' },
  { name: 'SESSION_LIMIT_POLICY', path: 'auth.sessions.limitPolicy', kind: 'string' },
  { name: 'AUDIT_RETENTION', path: 'auth.audit.retentionSeconds', kind: 'integer' },
  { name: 'BCRYPT_COST', path: 'auth.bcryptCost', kind: 'integer' },
  { name: 'RATE_LIMIT_WINDOW_SECONDS', path: 'auth.rateLimit.windowSeconds', kind: 'integer' },
  { name: 'RATE_LIMIT_LOGIN_PER_IP', path: 'auth.rateLimit.loginPerIp', kind: 'integer' },
  { name: 'RATE_LIMIT_LOGIN_PER_ACCOUNT', path: 'auth.rateLimit.loginPerAccount', kind: 'integer' },
  { name: 'RATE_LIMIT_REGISTER_PER_IP', path: 'auth.rateLimit.registerPerIp', kind: 'integer' },
  { name: 'RATE_LIMIT_REFRESH_PER_IP', path: 'auth.rateLimit.refreshPerIp', kind: 'integer' },
  { name: 'RATE_LIMIT_PASSWORD_PER_IP', path: 'auth.rateLimit.passwordPerIp', kind: 'integer' },
  { name: 'RATE_LIMIT_PASSWORD_PER_USER', path: 'auth.rateLimit.passwordPerUser', kind: 'integer' },
];

/** Every environment variable the service reads (documented in .env.example and the README). */
export const CONFIG_VARIABLES: readonly string[] = VARIABLES.map((v) => v.name);

/** The variable that sets an `AuthModuleOptions` path (`accessToken.ttlSeconds` → ACCESS_TOKEN_TTL). */
export function variableFor(optionPath: string): string | undefined {
  return VARIABLES.find((v) => v.path === `auth.${optionPath}`)?.name;
}

/** Reads one variable's text, or says why it cannot. */
export function parse(kind: Kind, text: string): { value: unknown } | { problem: string } {
  if (kind === 'string') return { value: text };
  if (kind === 'integer') return /^-?\d+$/.test(text.trim()) ? { value: Number(text.trim()) } : { problem: 'must be an integer' };
  const v = text.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(v)) return { value: true };
  if (['false', '0', 'no', 'off'].includes(v)) return { value: false };
  return { problem: 'must be a boolean (true/false)' };
}
