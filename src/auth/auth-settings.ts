import { AccessTokenAlgorithm, AppConfig, loadConfig, PreviousPublicKey, REFRESH_TOKEN_TRANSPORTS, RefreshTokenTransport, secretProblem } from '../config/app-config';
import { normaliseOrigin } from './origins';

/**
 * What the auth and sessions modules run on: token, session and rate-limit settings, and the
 * runtime database connection when the module owns its MikroORM instance. The class is the
 * injection token. The standalone service builds it from its environment (`authOptionsFromConfig`);
 * host apps from `AuthModule.forRoot(options)`.
 */
export abstract class AuthSettings {
  auth!: AppConfig['auth'];
  sessions!: AppConfig['sessions'];
  rateLimit!: AppConfig['rateLimit'];
  /** Origins besides the service's own whose browser requests may use the refresh-token cookie (normalised). */
  allowedOrigins!: string[];
  database?: {
    /** Runtime (RLS-bound) connection URL. */
    url: string;
    poolMax: number;
    acquireTimeoutMs: number;
    statementTimeoutMs: number;
  };
}

/** Options of `AuthModule.forRoot` / `forRootAsync`. Anything omitted takes the standalone service's default. */
export interface AuthModuleOptions {
  accessToken: {
    /** HS256 (default; `secret` required) or ES256 (`privateKeyPem` required; public keys at /.well-known/jwks.json). */
    algorithm?: AccessTokenAlgorithm;
    secret?: string;
    privateKeyPem?: string;
    keyId?: string;
    /** Earlier ES256 public keys, published and accepted until `rotatedAt` + ttl. */
    previousPublicKeys?: PreviousPublicKey[];
    issuer?: string;
    audience?: string;
    ttlSeconds?: number;
  };
  refreshToken: {
    secret: string;
    ttlSeconds?: number;
    graceSeconds?: number;
    /**
     * `body` (default): in JSON bodies only. `cookie`: in an HttpOnly, SameSite=Strict cookie only, never in a
     * body. `both`: a login chooses with `refreshTokenTransport`; a refresh answers the way the token came.
     */
    transport?: RefreshTokenTransport;
    /**
     * Origins (`https://app.example.com`) besides the service's own whose browser requests may use the cookie;
     * any other `Origin` is refused (403). The standalone service passes CORS_ORIGINS.
     */
    allowedOrigins?: string[];
  };
  sessions?: Partial<AppConfig['sessions']> & { idleTimeoutSeconds?: number; absoluteLifetimeSeconds?: number };
  bcryptCost?: number;
  rateLimit?: Partial<AppConfig['rateLimit']>;
  /**
   * The runtime role's connection, for the module's own MikroORM instance. Leave it out and pass
   * `useHostOrm: true` to use the host's `MikroOrmModule.forRoot` (its entities must include
   * `AUTH_ENTITIES`).
   */
  database?: { url: string; poolMax?: number; acquireTimeoutMs?: number; statementTimeoutMs?: number };
  /** Register the bearer guard for every route of the host app (default true; `@Public()` opts out). */
  registerGlobalGuard?: boolean;
  /** Run every route of the host app in an RLS transaction as the caller (default true). */
  registerRlsInterceptor?: boolean;
}

/** Fills the defaults (the standalone service's) and checks what must be given. */
export function resolveAuthSettings(options: AuthModuleOptions): AuthSettings {
  const d = loadConfig({ NODE_ENV: 'test' });
  const problems: string[] = [];
  const at = options.accessToken ?? {};
  const algorithm = at.algorithm ?? 'HS256';
  const accessProblem = algorithm === 'HS256' ? secretProblem(at.secret ?? '') : undefined;
  if (accessProblem) problems.push(`accessToken.secret (HS256) ${accessProblem}`);
  if (algorithm === 'ES256' && !at.privateKeyPem) problems.push('accessToken.privateKeyPem is required for ES256');
  const refreshProblem = secretProblem(options.refreshToken?.secret ?? '');
  if (refreshProblem) problems.push(`refreshToken.secret ${refreshProblem}`);
  if (at.secret && at.secret === options.refreshToken?.secret) problems.push('refreshToken.secret must differ from accessToken.secret');
  const transport = options.refreshToken?.transport ?? d.auth.refreshTokenTransport;
  if (!REFRESH_TOKEN_TRANSPORTS.includes(transport)) problems.push(`refreshToken.transport must be one of: ${REFRESH_TOKEN_TRANSPORTS.join(', ')}`);
  const allowedOrigins = (options.refreshToken?.allowedOrigins ?? []).map((o) => {
    const origin = normaliseOrigin(o);
    if (!origin) problems.push(`refreshToken.allowedOrigins: ${JSON.stringify(o)} is not an http(s) origin`);
    return origin ?? '';
  });
  if (problems.length) throw new Error(`Invalid AuthModule options: ${problems.join('; ')}`);
  return {
    auth: {
      algorithm,
      accessSecret: at.secret ?? '',
      privateKeyPem: at.privateKeyPem,
      keyId: at.keyId,
      previousPublicKeys: at.previousPublicKeys ?? [],
      issuer: at.issuer ?? d.auth.issuer,
      audience: at.audience ?? d.auth.audience,
      accessTtlSeconds: at.ttlSeconds ?? d.auth.accessTtlSeconds,
      refreshSecret: options.refreshToken.secret,
      refreshTtlSeconds: options.refreshToken.ttlSeconds ?? d.auth.refreshTtlSeconds,
      refreshGraceSeconds: options.refreshToken.graceSeconds ?? d.auth.refreshGraceSeconds,
      refreshTokenTransport: transport,
      idleTimeoutSeconds: options.sessions?.idleTimeoutSeconds ?? d.auth.idleTimeoutSeconds,
      absoluteLifetimeSeconds: options.sessions?.absoluteLifetimeSeconds ?? d.auth.absoluteLifetimeSeconds,
      bcryptCost: options.bcryptCost ?? d.auth.bcryptCost,
    },
    sessions: {
      retentionSeconds: options.sessions?.retentionSeconds ?? d.sessions.retentionSeconds,
      purgeIntervalSeconds: options.sessions?.purgeIntervalSeconds ?? d.sessions.purgeIntervalSeconds,
      purgeBatchSize: options.sessions?.purgeBatchSize ?? d.sessions.purgeBatchSize,
    },
    rateLimit: { ...d.rateLimit, ...options.rateLimit },
    allowedOrigins,
    database: options.database && {
      url: options.database.url,
      poolMax: options.database.poolMax ?? d.database.poolMax,
      acquireTimeoutMs: options.database.acquireTimeoutMs ?? d.database.acquireTimeoutMs,
      statementTimeoutMs: options.database.statementTimeoutMs ?? d.database.statementTimeoutMs,
    },
  };
}

/** The standalone service's module options, from its validated environment. */
export function authOptionsFromConfig(config: AppConfig, runtimeUrl: string): AuthModuleOptions {
  const { auth, sessions, rateLimit, database } = config;
  return {
    accessToken: {
      algorithm: auth.algorithm,
      secret: auth.algorithm === 'HS256' ? auth.accessSecret : undefined,
      privateKeyPem: auth.privateKeyPem,
      keyId: auth.keyId,
      previousPublicKeys: auth.previousPublicKeys,
      issuer: auth.issuer,
      audience: auth.audience,
      ttlSeconds: auth.accessTtlSeconds,
    },
    refreshToken: {
      secret: auth.refreshSecret,
      ttlSeconds: auth.refreshTtlSeconds,
      graceSeconds: auth.refreshGraceSeconds,
      transport: auth.refreshTokenTransport,
      allowedOrigins: config.http.corsOrigins,
    },
    sessions: { ...sessions, idleTimeoutSeconds: auth.idleTimeoutSeconds, absoluteLifetimeSeconds: auth.absoluteLifetimeSeconds },
    bcryptCost: auth.bcryptCost,
    rateLimit,
    database: {
      url: runtimeUrl,
      poolMax: database.poolMax,
      acquireTimeoutMs: database.acquireTimeoutMs,
      statementTimeoutMs: database.statementTimeoutMs,
    },
  };
}
