import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { resolveAuthSettings, SettingsError } from '../core/settings';
import { parse, VARIABLES, variableFor } from './environment';
import type { ServiceConfig } from './service-config';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

export const REQUIRED_IN_PRODUCTION = ['REFRESH_TOKEN_SECRET', 'DATABASE_APP_PASSWORD'] as const;

/** Refused in production, allowed with a warning elsewhere. */
const TRUST_PROXY_TRUE =
  'TRUST_PROXY=true trusts every address in X-Forwarded-For, and the client writes the left-most one itself: ' +
  'per-IP rate limits and the IP recorded for sessions become whatever the client says. Set TRUST_PROXY to the number ' +
  'of proxies in front of the service (e.g. TRUST_PROXY=1 for one load balancer) or to their addresses/subnets ' +
  '(e.g. TRUST_PROXY=10.0.0.0/8, or loopback)';

/**
 * Reads and checks the environment. Throws `ConfigError` naming every bad or missing variable (by
 * its variable name, also for the rules `resolveAuthSettings` applies). Empty strings count as
 * unset, so `FOO=` in a .env file falls back to the default.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): ServiceConfig {
  const problems: string[] = [];
  const config: Record<string, any> = { database: {}, auth: {}, generatedSecrets: [], warnings: [] };
  const given = (name: string): string | undefined => (env[name] === '' ? undefined : env[name]);
  for (const v of VARIABLES) {
    const text = given(v.name);
    let value: unknown = v.default;
    if (text !== undefined) {
      const parsed = parse(v.kind, text);
      if ('problem' in parsed) {
        problems.push(`${v.name} ${parsed.problem}`);
        continue;
      }
      value = parsed.value;
      const problem = v.check?.(value);
      if (problem) problems.push(`${v.name} ${problem}`);
    }
    if (value !== undefined) setPath(config, v.path, value);
  }
  // Filled from the table above; `ServiceConfig` once the fix-ups below are done.
  const c = config as any;
  const production = c.env === 'production';

  if (production) {
    for (const name of REQUIRED_IN_PRODUCTION) {
      if (!given(name)) problems.push(`${name} is required when NODE_ENV=production (no generated or default secrets in production)`);
    }
    const algorithm = given('JWT_ALGORITHM') ?? 'HS256';
    const keyVar = algorithm === 'ES256' ? 'JWT_PRIVATE_KEY' : 'JWT_ACCESS_SECRET';
    if (!given(keyVar)) problems.push(`${keyVar} is required when NODE_ENV=production with JWT_ALGORITHM=${algorithm} (no generated or default secrets in production)`);
  }
  if (c.http.trustProxy === 'true') {
    if (production) problems.push(`${TRUST_PROXY_TRUE}. TRUST_PROXY=true is refused when NODE_ENV=production`);
    else c.warnings.push(`${TRUST_PROXY_TRUE}. Allowed only because NODE_ENV=${c.env}; refused when NODE_ENV=production`);
  }

  // Secrets not set (development and test only: production refused them above) are generated for this run.
  const generate = (name: string, make: () => string): string => {
    c.generatedSecrets.push(name);
    return make();
  };
  const at = (c.auth.accessToken ??= {});
  at.privateKeyPem = at.privateKeyPem?.replace(/\\n/g, '\n');
  if ((at.algorithm ?? 'HS256') === 'HS256') at.secret ??= generate('JWT_ACCESS_SECRET', randomSecret);
  else at.privateKeyPem ??= generate('JWT_PRIVATE_KEY', es256Key);
  c.auth.refreshToken ??= {};
  c.auth.refreshToken.secret ??= generate('REFRESH_TOKEN_SECRET', randomSecret);
  c.database.appPassword ??= generate('DATABASE_APP_PASSWORD', randomSecret);
  if (typeof at.previousPublicKeys === 'string') {
    try {
      at.previousPublicKeys = JSON.parse(at.previousPublicKeys);
    } catch {
      problems.push('JWT_PREVIOUS_PUBLIC_KEYS must be a JSON array of public JWKs');
      delete at.previousPublicKeys;
    }
  }
  c.auth.database ??= {};

  c.http.trustProxy = parseTrustProxy(c.http.trustProxy);
  c.http.corsOrigins = String(c.http.corsOrigins).split(',').map((o) => o.trim()).filter(Boolean);
  // The origins CORS lets in may also use the refresh-token cookie (the CSRF check lets them through).
  c.auth.refreshToken.allowedOrigins = c.http.corsOrigins;
  if (c.http.exampleWebEnabled && (c.auth.refreshToken.transport ?? 'body') === 'body') {
    c.warnings.push('EXAMPLE_WEB_ENABLED: the example web client signs in with the refresh-token cookie, which REFRESH_TOKEN_TRANSPORT=body does not set (use cookie or both)');
  }
  // Off by default in production: it describes every route to anyone, and no production client needs it.
  c.http.docsEnabled ??= !production;

  // The module's own rules, reported under the variables' names (once per variable: one that could
  // not be read, or is missing in production, is not reported again).
  try {
    resolveAuthSettings(c.auth);
  } catch (err) {
    if (!(err instanceof SettingsError)) throw err;
    for (const p of err.problems) {
      const name = variableFor(p.path) ?? p.path;
      if (!problems.some((problem) => problem.startsWith(`${name} `))) problems.push(`${name} ${p.message}`);
    }
  }
  if (problems.length) throw new ConfigError(problems);
  return c as ServiceConfig;
}

function setPath(target: Record<string, any>, path: string, value: unknown): void {
  const keys = path.split('.');
  let node = target;
  for (const key of keys.slice(0, -1)) node = node[key] ??= {};
  node[keys[keys.length - 1]] = value;
}

function parseTrustProxy(value: string): boolean | number | string {
  if (value === 'true') return true;
  if (value === 'false') return false;
  if (/^\d+$/.test(value)) return Number(value);
  return value;
}

const randomSecret = (): string => randomBytes(32).toString('base64url');
const es256Key = (): string =>
  generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
