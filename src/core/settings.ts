import { createPrivateKey, createPublicKey, JsonWebKey } from 'node:crypto';
import { normaliseOrigin } from './origins';

export const ACCESS_TOKEN_ALGORITHMS = ['HS256', 'ES256'] as const;
export type AccessTokenAlgorithm = (typeof ACCESS_TOKEN_ALGORITHMS)[number];
/** How refresh tokens travel: JSON bodies (default), an HttpOnly cookie, or either (the client chooses at login). */
export const REFRESH_TOKEN_TRANSPORTS = ['body', 'cookie', 'both'] as const;
export type RefreshTokenTransport = (typeof REFRESH_TOKEN_TRANSPORTS)[number];
/** What a sign-in does when the account already has `sessions.maxPerUser` active sessions. */
export const SESSION_LIMIT_POLICIES = ['evict_oldest', 'deny'] as const;
export type SessionLimitPolicy = (typeof SESSION_LIMIT_POLICIES)[number];

/** A retired signing key's public JWK. `rotatedAt` (ISO 8601): when it stopped signing. */
export type PreviousPublicKey = JsonWebKey & { kid: string; rotatedAt?: string };

export interface RateLimitSettings {
  windowSeconds: number;
  loginPerIp: number;
  loginPerAccount: number;
  registerPerIp: number;
  refreshPerIp: number;
  /** POST /auth/password attempts per client IP, and per signed-in user. */
  passwordPerIp: number;
  passwordPerUser: number;
}

/**
 * The module's settings, every one filled in: what `AuthModule.forRoot` options become once the
 * defaults are applied and the whole is validated (`resolveAuthSettings`). The class is the injection
 * token; its shape is the options' shape.
 */
export abstract class AuthSettings {
  accessToken!: {
    /** HS256 (shared `secret`) or ES256 (`privateKeyPem`; public keys at /.well-known/jwks.json). */
    algorithm: AccessTokenAlgorithm;
    /** HS256 key ('' with ES256). */
    secret: string;
    privateKeyPem?: string;
    /** `kid` of the current signing key (ES256); default: its RFC 7638 thumbprint. */
    keyId?: string;
    /** Earlier ES256 public keys, published and accepted until `rotatedAt` + ttl. */
    previousPublicKeys: PreviousPublicKey[];
    issuer: string;
    audience: string;
    ttlSeconds: number;
  };
  refreshToken!: {
    secret: string;
    ttlSeconds: number;
    graceSeconds: number;
    /**
     * `body` (default): in JSON bodies only. `cookie`: in an HttpOnly, SameSite=Strict cookie only, never in a
     * body. `both`: a login chooses with `refreshTokenTransport`; a refresh answers the way the token came.
     */
    transport: RefreshTokenTransport;
    /**
     * Origins (`https://app.example.com`) besides the service's own whose browser requests may use the cookie;
     * any other `Origin` is refused (403). Normalised (lower case, default port left out). The service passes CORS_ORIGINS.
     */
    allowedOrigins: string[];
  };
  sessions!: {
    idleTimeoutSeconds: number;
    absoluteLifetimeSeconds: number;
    /** How long ended sessions are kept before the purge deletes them. */
    retentionSeconds: number;
    /** 0: no purge timer (run `npm run sessions:purge` from a scheduler instead). */
    purgeIntervalSeconds: number;
    purgeBatchSize: number;
    /** Active sessions one account may have (0: no cap). */
    maxPerUser: number;
    /** At the cap: revoke the least recently used (`session_limit`), or refuse the sign-in (409). */
    limitPolicy: SessionLimitPolicy;
  };
  audit!: {
    /** Audit rows older than this are trimmed by the purge (0: kept forever). */
    retentionSeconds: number;
  };
  bcryptCost!: number;
  rateLimit!: RateLimitSettings;
  /** The runtime (RLS-bound) connection of the module's own MikroORM instance; absent with `useHostOrm`. */
  database?: { url: string; poolMax: number; acquireTimeoutMs: number; statementTimeoutMs: number };
}

type DeepPartial<T> = { [K in keyof T]?: T[K] extends (infer E)[] ? E[] : T[K] extends object ? DeepPartial<T[K]> : T[K] };

/**
 * Options of `AuthModule.forRoot` / `forRootAsync`: the shape of `AuthSettings`, where only the
 * refresh-token secret (and the access-token key) must be given. Anything omitted takes the default
 * in `AUTH_DEFAULTS`. `database` is the runtime role's connection for the module's own MikroORM
 * instance; leave it out and pass `useHostOrm: true` to use the host's (its entities must include
 * `AUTH_ENTITIES`).
 */
export type AuthModuleOptions = DeepPartial<Omit<AuthSettings, 'refreshToken' | 'database'>> & {
  refreshToken: { secret: string; ttlSeconds?: number; graceSeconds?: number; transport?: RefreshTokenTransport; allowedOrigins?: string[] };
  database?: { url: string; poolMax?: number; acquireTimeoutMs?: number; statementTimeoutMs?: number };
};

/** The one set of defaults, for host apps and for the standalone service (whose environment maps onto these options). */
export const AUTH_DEFAULTS = {
  accessToken: { algorithm: 'HS256', secret: '', previousPublicKeys: [], issuer: 'nest-rls-auth', audience: 'nest-rls-auth', ttlSeconds: 900 },
  refreshToken: { ttlSeconds: 30 * 86_400, graceSeconds: 10, transport: 'body', allowedOrigins: [] },
  sessions: {
    idleTimeoutSeconds: 14 * 86_400,
    absoluteLifetimeSeconds: 90 * 86_400,
    retentionSeconds: 30 * 86_400,
    purgeIntervalSeconds: 3600,
    purgeBatchSize: 5000,
    maxPerUser: 0,
    limitPolicy: 'evict_oldest',
  },
  audit: { retentionSeconds: 90 * 86_400 },
  bcryptCost: 12,
  rateLimit: { windowSeconds: 60, loginPerIp: 20, loginPerAccount: 5, registerPerIp: 10, refreshPerIp: 120, passwordPerIp: 10, passwordPerUser: 5 },
  database: { poolMax: 10, acquireTimeoutMs: 5000, statementTimeoutMs: 10_000 },
} as const satisfies Omit<AuthSettings, 'refreshToken' | 'database'> & {
  refreshToken: Omit<AuthSettings['refreshToken'], 'secret'>;
  database: Omit<NonNullable<AuthSettings['database']>, 'url'>;
};

/** Why a value is refused (the message follows the setting's name), or undefined. */
type Rule = (value: unknown) => string | undefined;

const integer = (min: number, max = Number.MAX_SAFE_INTEGER): Rule => (v) =>
  Number.isInteger(v) && (v as number) >= min && (v as number) <= max
    ? undefined
    : max === Number.MAX_SAFE_INTEGER ? `must be an integer of at least ${min}` : `must be an integer from ${min} to ${max}`;
const text = (max: number): Rule => (v) => (typeof v === 'string' && v.length >= 1 && v.length <= max ? undefined : `must be 1 to ${max} characters`);
const oneOf = (values: readonly string[]): Rule => (v) => (values.includes(v as string) ? undefined : `must be one of: ${values.join(', ')}`);
const KEY_ID: Rule = (v) => (v === undefined || (typeof v === 'string' && /^[A-Za-z0-9._-]{1,128}$/.test(v)) ? undefined : 'must be 1-128 characters of A-Z a-z 0-9 . _ -');
const POSTGRES_URL: Rule = (v) => (typeof v === 'string' && /^postgres(ql)?:\/\/\S+$/.test(v) ? undefined : 'must be a postgres:// URL');

/** Every range and format rule of the settings, by path: the only place they are written. */
const RULES: Record<string, Rule> = {
  'accessToken.algorithm': oneOf(ACCESS_TOKEN_ALGORITHMS),
  'accessToken.keyId': KEY_ID,
  'accessToken.issuer': text(200),
  'accessToken.audience': text(200),
  'accessToken.ttlSeconds': integer(30, 86_400),
  'refreshToken.ttlSeconds': integer(60),
  'refreshToken.graceSeconds': integer(0, 300),
  'refreshToken.transport': oneOf(REFRESH_TOKEN_TRANSPORTS),
  'refreshToken.allowedOrigins': (v) => {
    if (!Array.isArray(v)) return 'must be an array of http(s) origins';
    const bad = v.find((o) => typeof o !== 'string' || !normaliseOrigin(o));
    return bad === undefined ? undefined : `holds ${JSON.stringify(bad)}, which is not an http(s) origin`;
  },
  'sessions.idleTimeoutSeconds': integer(60),
  'sessions.absoluteLifetimeSeconds': integer(60),
  'sessions.retentionSeconds': integer(0),
  'sessions.purgeIntervalSeconds': integer(0),
  'sessions.purgeBatchSize': integer(1, 100_000),
  'sessions.maxPerUser': integer(0, 100_000),
  'sessions.limitPolicy': oneOf(SESSION_LIMIT_POLICIES),
  'audit.retentionSeconds': integer(0),
  bcryptCost: integer(4, 15),
  'rateLimit.windowSeconds': integer(1, 86_400),
  'rateLimit.loginPerIp': integer(1),
  'rateLimit.loginPerAccount': integer(1),
  'rateLimit.registerPerIp': integer(1),
  'rateLimit.refreshPerIp': integer(1),
  'rateLimit.passwordPerIp': integer(1),
  'rateLimit.passwordPerUser': integer(1),
  'database.url': POSTGRES_URL,
  'database.poolMax': integer(1, 500),
  'database.acquireTimeoutMs': integer(100, 600_000),
  'database.statementTimeoutMs': integer(100, 3_600_000),
};

/** The settings' invalid values: `path` names the option (`accessToken.ttlSeconds`). */
export class SettingsError extends Error {
  constructor(readonly problems: { path: string; message: string }[]) {
    super(`Invalid AuthModule options: ${problems.map((p) => `${p.path} ${p.message}`).join('; ')}`);
    this.name = 'SettingsError';
  }
}

/**
 * Fills in the defaults and checks the whole: every rule above, the secrets (`secretProblem`), the
 * keys, and the rules that relate two settings. Throws `SettingsError` naming every problem.
 */
export function resolveAuthSettings(options: AuthModuleOptions): AuthSettings {
  const d = AUTH_DEFAULTS;
  const settings: AuthSettings = {
    accessToken: { ...d.accessToken, previousPublicKeys: [...d.accessToken.previousPublicKeys], ...defined(options.accessToken) },
    refreshToken: { ...d.refreshToken, allowedOrigins: [], ...defined(options.refreshToken), secret: options.refreshToken?.secret ?? '' },
    sessions: { ...d.sessions, ...defined(options.sessions) },
    audit: { ...d.audit, ...defined(options.audit) },
    bcryptCost: options.bcryptCost ?? d.bcryptCost,
    rateLimit: { ...d.rateLimit, ...defined(options.rateLimit) },
    database: options.database && { ...d.database, ...defined(options.database), url: options.database.url },
  };
  const problems: { path: string; message: string }[] = [];
  const flat = flatten(settings as unknown as Record<string, unknown>);
  for (const [path, rule] of Object.entries(RULES)) {
    if (path.startsWith('database.') && !settings.database) continue;
    // The standalone service checks its settings before it knows the runtime URL (an embedded database's port).
    if (path === 'database.url' && flat[path] === undefined) continue;
    const message = rule(flat[path]);
    if (message) problems.push({ path, message });
  }
  const at = settings.accessToken;
  if (at.algorithm === 'HS256') {
    const problem = secretProblem(at.secret ?? '');
    if (problem) problems.push({ path: 'accessToken.secret', message: problem });
  } else if (at.algorithm === 'ES256') {
    const problem = at.privateKeyPem ? es256KeyProblem(at.privateKeyPem) : 'is required for ES256';
    if (problem) problems.push({ path: 'accessToken.privateKeyPem', message: problem });
  }
  const keysProblem = previousKeysProblem(at.previousPublicKeys);
  if (keysProblem) problems.push({ path: 'accessToken.previousPublicKeys', message: keysProblem });
  const refreshProblem = secretProblem(settings.refreshToken.secret ?? '');
  if (refreshProblem) problems.push({ path: 'refreshToken.secret', message: refreshProblem });
  if (at.secret && at.secret === settings.refreshToken.secret) problems.push({ path: 'refreshToken.secret', message: 'must differ from the access-token secret' });
  const s = settings.sessions;
  if (Number.isInteger(s.absoluteLifetimeSeconds) && Number.isInteger(s.idleTimeoutSeconds) && s.absoluteLifetimeSeconds < s.idleTimeoutSeconds) {
    problems.push({ path: 'sessions.absoluteLifetimeSeconds', message: 'must be at least the idle timeout' });
  }
  if (problems.length) throw new SettingsError(problems);
  settings.refreshToken.allowedOrigins = settings.refreshToken.allowedOrigins.map((o) => normaliseOrigin(o)!);
  return settings;
}

/** Drops undefined properties, so that `{ ttlSeconds: undefined }` keeps the default. */
function defined<T extends object>(o: T | undefined): Partial<T> {
  return Object.fromEntries(Object.entries(o ?? {}).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function flatten(o: Record<string, unknown>, prefix = ''): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    if (v && typeof v === 'object' && !Array.isArray(v)) Object.assign(out, flatten(v as Record<string, unknown>, `${prefix}${k}.`));
    else out[`${prefix}${k}`] = v;
  }
  return out;
}

/** The shortest HMAC secret accepted. */
const MIN_SECRET_LENGTH = 32;
const MIN_SECRET_BITS = 72;
/** Shown wherever a secret is refused. */
const GENERATE_SECRET_HINT = 'generate one with: openssl rand -base64 32';

/**
 * Why `secret` cannot be an HMAC key (token signing), or undefined: shorter than 32 characters, or
 * obviously low-entropy. The message starts with what is wrong, for the caller to prefix the name.
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

function es256KeyProblem(pem: string): string | undefined {
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

function previousKeysProblem(keys: unknown): string | undefined {
  if (!Array.isArray(keys)) return 'must be an array of public JWKs';
  for (const [i, k] of keys.entries()) {
    if (!k || typeof k !== 'object' || typeof k.kid !== 'string' || !k.kid) return `entry ${i} must be a JWK with a kid`;
    if ('d' in k) return `entry ${i} must be a public key (it has a private "d")`;
    if (k.rotatedAt !== undefined && Number.isNaN(Date.parse(k.rotatedAt))) return `entry ${i}: rotatedAt must be an ISO 8601 date`;
    try {
      createPublicKey({ key: { ...k, rotatedAt: undefined } as JsonWebKey, format: 'jwk' });
    } catch {
      return `entry ${i} is not a usable public JWK`;
    }
  }
  return undefined;
}
