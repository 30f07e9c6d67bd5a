import 'reflect-metadata';
import { createPrivateKey, createPublicKey, generateKeyPairSync, JsonWebKey, randomBytes } from 'node:crypto';
import { plainToInstance, Transform, Type } from 'class-transformer';
import {
  getMetadataStorage,
  IsBoolean,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  MinLength,
  validateSync,
  ValidationError,
} from 'class-validator';

export type NodeEnv = 'development' | 'test' | 'production';
export const ACCESS_TOKEN_ALGORITHMS = ['HS256', 'ES256'] as const;
export type AccessTokenAlgorithm = (typeof ACCESS_TOKEN_ALGORITHMS)[number];
/** How refresh tokens travel: JSON bodies (default), an HttpOnly cookie, or either (the client chooses at login). */
export const REFRESH_TOKEN_TRANSPORTS = ['body', 'cookie', 'both'] as const;
export type RefreshTokenTransport = (typeof REFRESH_TOKEN_TRANSPORTS)[number];

/** A retired signing key's public JWK. `rotatedAt` (ISO 8601): when it stopped signing. */
export type PreviousPublicKey = JsonWebKey & { kid: string; rotatedAt?: string };

/**
 * The one typed configuration object. Built once from the environment by `loadConfig`; everything
 * else receives it through DI (the class doubles as the injection token).
 */
export abstract class AppConfig {
  env!: NodeEnv;
  http!: {
    host: string;
    port: number;
    /** Express `trust proxy`: false, true, a hop count, or a comma-separated list of addresses/subnets. */
    trustProxy: boolean | number | string;
    bodyLimit: string;
    /** Allowed CORS origins; empty means CORS is off (no Access-Control-* headers). */
    corsOrigins: string[];
    /** Serve Swagger UI at /docs and the OpenAPI document at /docs-json (default: off in production, on elsewhere). */
    docsEnabled: boolean;
    /** Serve the example web client (examples/web) at /example/ (default off; `npm run example:web` turns it on). */
    exampleWebEnabled: boolean;
  };
  logging!: {
    level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  };
  rateLimit!: {
    windowSeconds: number;
    loginPerIp: number;
    loginPerAccount: number;
    registerPerIp: number;
    refreshPerIp: number;
    /** POST /auth/password attempts per client IP, and per signed-in user. */
    passwordPerIp: number;
    passwordPerUser: number;
  };
  database!: {
    /** Owner connection (migrations, role bootstrap). Undefined: an embedded PostgreSQL is started. */
    url?: string;
    /** Runtime connection override (e.g. through PgBouncer). Default: `url` with the runtime role's credentials. */
    appUrl?: string;
    appUser: string;
    appPassword: string;
    poolMax: number;
    acquireTimeoutMs: number;
    statementTimeoutMs: number;
    migrateOnStart: boolean;
    embedded: { dir: string; port: number; database: string };
  };
  auth!: {
    /** HS256 (shared secret) or ES256 (P-256 key pair, public keys published as a JWKS). */
    algorithm: AccessTokenAlgorithm;
    /** HS256 key. */
    accessSecret: string;
    /** ES256 private key (PEM). */
    privateKeyPem?: string;
    /** `kid` of the current signing key (ES256); default: its RFC 7638 thumbprint. */
    keyId?: string;
    /** Public keys of earlier signing keys, still published and accepted until their tokens expire. */
    previousPublicKeys: PreviousPublicKey[];
    issuer: string;
    audience: string;
    accessTtlSeconds: number;
    refreshSecret: string;
    refreshTtlSeconds: number;
    idleTimeoutSeconds: number;
    absoluteLifetimeSeconds: number;
    refreshGraceSeconds: number;
    /** Where refresh tokens travel (REFRESH_TOKEN_TRANSPORT); `body` is the original JSON-only contract. */
    refreshTokenTransport: RefreshTokenTransport;
    bcryptCost: number;
  };
  sessions!: {
    retentionSeconds: number;
    purgeIntervalSeconds: number;
    purgeBatchSize: number;
  };
  /** Names of the secrets that were generated because the environment did not set them (never outside development/test). */
  generatedSecrets!: string[];
  /** Settings that are allowed here but unsafe (refused in production); the service logs each at start. */
  warnings!: string[];
}

const toBool = ({ value }: { value: unknown }): unknown => {
  if (typeof value !== 'string') return value;
  const v = value.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(v)) return true;
  if (['false', '0', 'no', 'off'].includes(v)) return false;
  return value;
};
const POSTGRES_URL = /^postgres(ql)?:\/\/\S+$/;
const PG_ROLE = /^[a-z_][a-z0-9_]{0,62}$/;

/** The environment variables, as validated. Names here are the names users set. */
class EnvironmentVariables {
  @IsOptional() @IsIn(['development', 'test', 'production'])
  NODE_ENV: NodeEnv = 'development';

  @IsOptional() @IsString() @MinLength(1)
  HOST = '127.0.0.1';

  @IsOptional() @Type(() => Number) @IsInt() @Min(0) @Max(65535)
  PORT = 3000;

  @IsOptional() @IsString() @Matches(/^(true|false|\d+|[0-9a-fA-F.:/, ]+|loopback|linklocal|uniquelocal)$/, {
    message: 'TRUST_PROXY must be true, false, a hop count or a comma-separated list of addresses/subnets',
  })
  TRUST_PROXY = 'false';

  @IsOptional() @IsString() @Matches(/^\d+(b|kb|mb)?$/i, { message: 'BODY_LIMIT must look like 16kb' })
  BODY_LIMIT = '16kb';

  @IsOptional() @IsString() @Matches(/^(https?:\/\/[^\s,]+)(\s*,\s*https?:\/\/[^\s,]+)*$/, {
    message: 'CORS_ORIGINS must be a comma-separated list of http(s) origins',
  })
  CORS_ORIGINS?: string;

  /** No default here: unset means off in production, on elsewhere (`loadConfig`). */
  @IsOptional() @Transform(toBool) @IsBoolean()
  DOCS_ENABLED?: boolean;

  @IsOptional() @Transform(toBool) @IsBoolean()
  EXAMPLE_WEB_ENABLED = false;

  @IsOptional() @IsIn(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
  LOG_LEVEL: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent' = 'info';

  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(86_400)
  RATE_LIMIT_WINDOW_SECONDS = 60;

  @IsOptional() @Type(() => Number) @IsInt() @Min(1)
  RATE_LIMIT_LOGIN_PER_IP = 20;

  @IsOptional() @Type(() => Number) @IsInt() @Min(1)
  RATE_LIMIT_LOGIN_PER_ACCOUNT = 5;

  @IsOptional() @Type(() => Number) @IsInt() @Min(1)
  RATE_LIMIT_REGISTER_PER_IP = 10;

  @IsOptional() @Type(() => Number) @IsInt() @Min(1)
  RATE_LIMIT_REFRESH_PER_IP = 120;

  @IsOptional() @Type(() => Number) @IsInt() @Min(1)
  RATE_LIMIT_PASSWORD_PER_IP = 10;

  @IsOptional() @Type(() => Number) @IsInt() @Min(1)
  RATE_LIMIT_PASSWORD_PER_USER = 5;

  @IsOptional() @IsString() @Matches(POSTGRES_URL, { message: 'DATABASE_URL must be a postgres:// URL' })
  DATABASE_URL?: string;

  @IsOptional() @IsString() @Matches(POSTGRES_URL, { message: 'DATABASE_APP_URL must be a postgres:// URL' })
  DATABASE_APP_URL?: string;

  @IsOptional() @IsString() @Matches(PG_ROLE, { message: 'DATABASE_APP_USER must be a lower-case PostgreSQL identifier' })
  DATABASE_APP_USER = 'nest_rls_app';

  @IsOptional() @IsString() @MinLength(16, { message: 'DATABASE_APP_PASSWORD must be at least 16 characters' })
  DATABASE_APP_PASSWORD?: string;

  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(500)
  DATABASE_POOL_MAX = 10;

  @IsOptional() @Type(() => Number) @IsInt() @Min(100) @Max(600_000)
  DATABASE_ACQUIRE_TIMEOUT_MS = 5000;

  @IsOptional() @Type(() => Number) @IsInt() @Min(100) @Max(3_600_000)
  DATABASE_STATEMENT_TIMEOUT_MS = 10_000;

  @IsOptional() @Transform(toBool) @IsBoolean()
  MIGRATE_ON_START = true;

  @IsOptional() @IsString() @MinLength(1)
  EMBEDDED_PG_DIR = '.data/postgres';

  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(65535)
  EMBEDDED_PG_PORT = 54329;

  @IsOptional() @IsString() @Matches(PG_ROLE, { message: 'EMBEDDED_PG_DATABASE must be a lower-case PostgreSQL identifier' })
  EMBEDDED_PG_DATABASE = 'nest_rls_auth';

  @IsOptional() @IsIn(ACCESS_TOKEN_ALGORITHMS, { message: `JWT_ALGORITHM must be one of: ${ACCESS_TOKEN_ALGORITHMS.join(', ')}` })
  JWT_ALGORITHM: AccessTokenAlgorithm = 'HS256';

  /** Length and entropy: `secretProblem`, in `loadConfig`. */
  @IsOptional() @IsString()
  JWT_ACCESS_SECRET?: string;

  @IsOptional() @IsString() @Matches(/-----BEGIN (EC )?PRIVATE KEY-----/, { message: 'JWT_PRIVATE_KEY must be a PEM private key' })
  JWT_PRIVATE_KEY?: string;

  @IsOptional() @IsString() @Matches(/^[A-Za-z0-9._-]{1,128}$/, { message: 'JWT_KEY_ID must be 1-128 characters of A-Z a-z 0-9 . _ -' })
  JWT_KEY_ID?: string;

  @IsOptional() @IsString()
  JWT_PREVIOUS_PUBLIC_KEYS?: string;

  @IsOptional() @IsString() @MinLength(1) @MaxLength(200)
  JWT_ISSUER = 'nest-rls-auth';

  @IsOptional() @IsString() @MinLength(1) @MaxLength(200)
  JWT_AUDIENCE = 'nest-rls-auth';

  @IsOptional() @Type(() => Number) @IsInt() @Min(30) @Max(86_400)
  ACCESS_TOKEN_TTL = 900;

  /** Length and entropy: `secretProblem`, in `loadConfig`. */
  @IsOptional() @IsString()
  REFRESH_TOKEN_SECRET?: string;

  @IsOptional() @Type(() => Number) @IsInt() @Min(60)
  REFRESH_TOKEN_TTL = 30 * 86_400;

  @IsOptional() @Type(() => Number) @IsInt() @Min(60)
  SESSION_IDLE_TIMEOUT = 14 * 86_400;

  @IsOptional() @Type(() => Number) @IsInt() @Min(60)
  SESSION_ABSOLUTE_LIFETIME = 90 * 86_400;

  @IsOptional() @Type(() => Number) @IsInt() @Min(0) @Max(300)
  REFRESH_GRACE_SECONDS = 10;

  @IsOptional() @IsIn(REFRESH_TOKEN_TRANSPORTS, { message: `REFRESH_TOKEN_TRANSPORT must be one of: ${REFRESH_TOKEN_TRANSPORTS.join(', ')}` })
  REFRESH_TOKEN_TRANSPORT: RefreshTokenTransport = 'body';

  @IsOptional() @Type(() => Number) @IsInt() @Min(4) @Max(15)
  BCRYPT_COST = 12;

  @IsOptional() @Type(() => Number) @IsInt() @Min(0)
  SESSION_RETENTION = 30 * 86_400;

  @IsOptional() @Type(() => Number) @IsInt() @Min(0)
  PURGE_INTERVAL_SECONDS = 3600;

  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(100_000)
  PURGE_BATCH_SIZE = 5000;
}

/** Every environment variable the service reads (documented in .env.example and the README). */
export const CONFIG_VARIABLES: readonly string[] = getMetadataStorage()
  .getTargetValidationMetadatas(EnvironmentVariables, '', true, false)
  .map((m) => m.propertyName)
  .filter((name, i, all) => all.indexOf(name) === i);

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

const REQUIRED_IN_PRODUCTION = ['REFRESH_TOKEN_SECRET', 'DATABASE_APP_PASSWORD'] as const;

/** The shortest HMAC secret accepted (JWT_ACCESS_SECRET, REFRESH_TOKEN_SECRET, and the AuthModule options). */
const MIN_SECRET_LENGTH = 32;
const MIN_SECRET_BITS = 72;
/** Shown wherever a secret is refused. */
const GENERATE_SECRET_HINT = 'generate one with: openssl rand -base64 32';

/**
 * Why `secret` cannot be an HMAC key (token signing), or undefined: shorter than 32 characters, or
 * obviously low-entropy. The one rule for the environment (`loadConfig`) and for host apps
 * (`resolveAuthSettings`); the message starts with what is wrong, for the caller to prefix the name.
 *
 * Why this rule: length alone let 32 × 'a' through. Estimated bits = length × the empirical Shannon
 * entropy of its characters. That undercounts short random keys: 32 random hex characters
 * (`openssl rand -hex 16`, 128 bits) measure about 115 on average and under 96 one time in ten
 * thousand, so the bar is 72, which such a key misses with odds of about 4 in 10^12, while 32
 * characters from four or fewer symbols, or mostly one, cannot reach it. One run of characters
 * repeated ('abcdefgh' × 4: 96 by the estimate) is refused too, since half of it is a copy. A floor
 * against placeholders, not a strength meter: 'my-dev-secret-…' passes, so generate keys, never type them.
 */
export function secretProblem(secret: string): string | undefined {
  const chars = Array.from(secret);
  if (chars.length < MIN_SECRET_LENGTH) return `must be at least ${MIN_SECRET_LENGTH} characters; ${GENERATE_SECRET_HINT}`;
  const counts = new Map<string, number>();
  for (const c of chars) counts.set(c, (counts.get(c) ?? 0) + 1);
  let bits = 0;
  for (const n of counts.values()) bits -= n * Math.log2(n / chars.length);
  if (bits < MIN_SECRET_BITS || smallestPeriod(chars) <= chars.length / 2) {
    return `is too predictable for a signing key (too few distinct characters, or a short run repeated); ${GENERATE_SECRET_HINT}`;
  }
  return undefined;
}

/** The smallest p such that every character equals the one p before it (KMP prefix function); `chars.length` if none is smaller. */
function smallestPeriod(chars: string[]): number {
  const border = new Array<number>(chars.length).fill(0);
  for (let i = 1, k = 0; i < chars.length; i++) {
    while (k > 0 && chars[i] !== chars[k]) k = border[k - 1];
    if (chars[i] === chars[k]) k++;
    border[i] = k;
  }
  return chars.length - (border[chars.length - 1] ?? 0);
}

/** Refused in production, allowed with a warning elsewhere. */
const TRUST_PROXY_TRUE =
  'TRUST_PROXY=true trusts every address in X-Forwarded-For, and the client writes the left-most one itself: ' +
  'per-IP rate limits and the IP recorded for sessions become whatever the client says. Set TRUST_PROXY to the number ' +
  'of proxies in front of the service (e.g. TRUST_PROXY=1 for one load balancer) or to their addresses/subnets ' +
  '(e.g. TRUST_PROXY=10.0.0.0/8, or loopback)';

function describe(errors: ValidationError[]): string[] {
  return errors.flatMap((e) =>
    Object.values(e.constraints ?? {}).map((msg) => (msg.startsWith(e.property) ? msg : `${e.property}: ${msg}`)),
  );
}

/**
 * Reads and validates the environment. Throws `ConfigError` naming every bad or missing variable.
 * Empty strings count as unset, so `FOO=` in a .env file falls back to the default.
 */
export function loadConfig(env: NodeJS.ProcessEnv | Record<string, string | undefined> = process.env): AppConfig {
  const raw: Record<string, string> = {};
  for (const key of CONFIG_VARIABLES) {
    const value = env[key];
    if (value !== undefined && value !== '') raw[key] = value;
  }
  const vars = plainToInstance(EnvironmentVariables, raw, { exposeDefaultValues: true });
  const problems = describe(validateSync(vars, { skipMissingProperties: false }));

  const production = vars.NODE_ENV === 'production';
  if (production) {
    for (const name of REQUIRED_IN_PRODUCTION) {
      if (!raw[name]) problems.push(`${name} is required when NODE_ENV=production (no generated or default secrets in production)`);
    }
    const keyVar = vars.JWT_ALGORITHM === 'ES256' ? 'JWT_PRIVATE_KEY' : 'JWT_ACCESS_SECRET';
    if (!raw[keyVar]) {
      problems.push(`${keyVar} is required when NODE_ENV=production with JWT_ALGORITHM=${vars.JWT_ALGORITHM} (no generated or default secrets in production)`);
    }
  }
  const privateKeyPem = vars.JWT_PRIVATE_KEY?.replace(/\\n/g, '\n');
  if (privateKeyPem) {
    const problem = checkEs256PrivateKey(privateKeyPem);
    if (problem) problems.push(`JWT_PRIVATE_KEY ${problem}`);
  }
  let previousPublicKeys: PreviousPublicKey[] = [];
  if (vars.JWT_PREVIOUS_PUBLIC_KEYS) {
    try {
      previousPublicKeys = parsePreviousKeys(vars.JWT_PREVIOUS_PUBLIC_KEYS);
    } catch (err) {
      problems.push(`JWT_PREVIOUS_PUBLIC_KEYS ${(err as Error).message}`);
    }
  }
  for (const name of ['JWT_ACCESS_SECRET', 'REFRESH_TOKEN_SECRET'] as const) {
    const value = vars[name];
    const problem = typeof value === 'string' ? secretProblem(value) : undefined;
    if (problem) problems.push(`${name} ${problem}`);
  }
  const warnings: string[] = [];
  if (vars.TRUST_PROXY === 'true') {
    if (production) problems.push(`${TRUST_PROXY_TRUE}. TRUST_PROXY=true is refused when NODE_ENV=production`);
    else warnings.push(`${TRUST_PROXY_TRUE}. Allowed only because NODE_ENV=${vars.NODE_ENV}; refused when NODE_ENV=production`);
  }
  if (vars.EXAMPLE_WEB_ENABLED && vars.REFRESH_TOKEN_TRANSPORT === 'body') {
    warnings.push('EXAMPLE_WEB_ENABLED: the example web client signs in with the refresh-token cookie, which REFRESH_TOKEN_TRANSPORT=body does not set (use cookie or both)');
  }
  if (vars.JWT_ACCESS_SECRET && vars.JWT_ACCESS_SECRET === vars.REFRESH_TOKEN_SECRET) {
    problems.push('REFRESH_TOKEN_SECRET must differ from JWT_ACCESS_SECRET');
  }
  if (vars.SESSION_ABSOLUTE_LIFETIME < vars.SESSION_IDLE_TIMEOUT) {
    problems.push('SESSION_ABSOLUTE_LIFETIME must be at least SESSION_IDLE_TIMEOUT');
  }
  if (problems.length) throw new ConfigError(problems);

  const generatedSecrets: string[] = [];
  const secret = (name: string, value: string | undefined): string => {
    if (value) return value;
    generatedSecrets.push(name);
    return randomBytes(32).toString('base64url');
  };
  const trustProxy = parseTrustProxy(vars.TRUST_PROXY);

  return {
    env: vars.NODE_ENV,
    http: {
      host: vars.HOST,
      port: vars.PORT,
      trustProxy,
      bodyLimit: vars.BODY_LIMIT,
      corsOrigins: (vars.CORS_ORIGINS ?? '').split(',').map((o) => o.trim()).filter(Boolean),
      // Off by default in production: it describes every route to anyone, and no production client needs it.
      docsEnabled: vars.DOCS_ENABLED ?? !production,
      exampleWebEnabled: vars.EXAMPLE_WEB_ENABLED,
    },
    logging: { level: vars.LOG_LEVEL },
    rateLimit: {
      windowSeconds: vars.RATE_LIMIT_WINDOW_SECONDS,
      loginPerIp: vars.RATE_LIMIT_LOGIN_PER_IP,
      loginPerAccount: vars.RATE_LIMIT_LOGIN_PER_ACCOUNT,
      registerPerIp: vars.RATE_LIMIT_REGISTER_PER_IP,
      refreshPerIp: vars.RATE_LIMIT_REFRESH_PER_IP,
      passwordPerIp: vars.RATE_LIMIT_PASSWORD_PER_IP,
      passwordPerUser: vars.RATE_LIMIT_PASSWORD_PER_USER,
    },
    database: {
      url: vars.DATABASE_URL,
      appUrl: vars.DATABASE_APP_URL,
      appUser: vars.DATABASE_APP_USER,
      appPassword: secret('DATABASE_APP_PASSWORD', vars.DATABASE_APP_PASSWORD),
      poolMax: vars.DATABASE_POOL_MAX,
      acquireTimeoutMs: vars.DATABASE_ACQUIRE_TIMEOUT_MS,
      statementTimeoutMs: vars.DATABASE_STATEMENT_TIMEOUT_MS,
      migrateOnStart: vars.MIGRATE_ON_START,
      embedded: { dir: vars.EMBEDDED_PG_DIR, port: vars.EMBEDDED_PG_PORT, database: vars.EMBEDDED_PG_DATABASE },
    },
    auth: {
      algorithm: vars.JWT_ALGORITHM,
      accessSecret:
        vars.JWT_ALGORITHM === 'HS256' ? secret('JWT_ACCESS_SECRET', vars.JWT_ACCESS_SECRET) : (vars.JWT_ACCESS_SECRET ?? ''),
      privateKeyPem: vars.JWT_ALGORITHM === 'ES256' ? (privateKeyPem ?? generatedEs256Key(generatedSecrets)) : undefined,
      keyId: vars.JWT_KEY_ID,
      previousPublicKeys,
      issuer: vars.JWT_ISSUER,
      audience: vars.JWT_AUDIENCE,
      accessTtlSeconds: vars.ACCESS_TOKEN_TTL,
      refreshSecret: secret('REFRESH_TOKEN_SECRET', vars.REFRESH_TOKEN_SECRET),
      refreshTtlSeconds: vars.REFRESH_TOKEN_TTL,
      idleTimeoutSeconds: vars.SESSION_IDLE_TIMEOUT,
      absoluteLifetimeSeconds: vars.SESSION_ABSOLUTE_LIFETIME,
      refreshGraceSeconds: vars.REFRESH_GRACE_SECONDS,
      refreshTokenTransport: vars.REFRESH_TOKEN_TRANSPORT,
      bcryptCost: vars.BCRYPT_COST,
    },
    sessions: {
      retentionSeconds: vars.SESSION_RETENTION,
      purgeIntervalSeconds: vars.PURGE_INTERVAL_SECONDS,
      purgeBatchSize: vars.PURGE_BATCH_SIZE,
    },
    generatedSecrets,
    warnings,
  };
}

function parseTrustProxy(value: string): boolean | number | string {
  if (value === 'true') return true;
  if (value === 'false') return false;
  if (/^\d+$/.test(value)) return Number(value);
  return value;
}

function checkEs256PrivateKey(pem: string): string | undefined {
  try {
    const key = createPrivateKey(pem);
    if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
      return 'must be an EC P-256 (prime256v1) private key for ES256';
    }
    return undefined;
  } catch {
    return 'is not a readable PEM private key';
  }
}

function generatedEs256Key(generated: string[]): string {
  generated.push('JWT_PRIVATE_KEY');
  return generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

function parsePreviousKeys(json: string): PreviousPublicKey[] {
  const value: unknown = JSON.parse(json);
  if (!Array.isArray(value)) throw new Error('must be a JSON array of public JWKs');
  return value.map((jwk: unknown, i) => {
    const k = jwk as PreviousPublicKey;
    if (!k || typeof k !== 'object' || typeof k.kid !== 'string' || !k.kid) throw new Error(`entry ${i} must be a JWK with a kid`);
    if ('d' in k) throw new Error(`entry ${i} must be a public key (it has a private "d")`);
    if (k.rotatedAt !== undefined && Number.isNaN(Date.parse(k.rotatedAt))) throw new Error(`entry ${i}: rotatedAt must be an ISO 8601 date`);
    try {
      createPublicKey({ key: { ...k, rotatedAt: undefined } as JsonWebKey, format: 'jwk' });
    } catch {
      throw new Error(`entry ${i} is not a usable public JWK`);
    }
    return k;
  });
}
