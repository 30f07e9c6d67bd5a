import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { AUTH_DEFAULTS, AuthModuleOptions, resolveAuthSettings, secretProblem } from '../src/core/settings';
import { ConfigError, loadConfig } from '../src/config/load-config';
import { freePort } from './support/net';

const ROOT = resolve(__dirname, '..');
const ACCESS_SECRET = 'access-secret-for-config-tests-0123456789abcdef';
const REFRESH_SECRET = 'refresh-secret-for-config-tests-0123456789abcdef';
const APP_PASSWORD = 'app-password-0123456789';
const PRODUCTION_SECRETS = {
  JWT_ACCESS_SECRET: ACCESS_SECRET,
  REFRESH_TOKEN_SECRET: REFRESH_SECRET,
  DATABASE_APP_PASSWORD: APP_PASSWORD,
} as const;
const REQUIRED_IN_PRODUCTION = Object.keys(PRODUCTION_SECRETS) as (keyof typeof PRODUCTION_SECRETS)[];

/** The ConfigError that `loadConfig(env)` throws; fails the test when it loads instead. */
function configError(env: Record<string, string | undefined>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

describe('loadConfig', () => {
  it('with an empty environment uses the development defaults and lists the secrets it generated', () => {
    // Jest sets NODE_ENV=test in process.env: the result proves only the argument is read.
    const config = loadConfig({});

    expect(config.env).toBe('development');
    expect(config.http).toEqual({ host: '127.0.0.1', port: 3000, trustProxy: false, bodyLimit: '16kb', corsOrigins: [], docsEnabled: true, exampleWebEnabled: false });
    expect(config.logging).toEqual({ level: 'info' });
    expect(config.database.url).toBeUndefined();
    expect(config.database.appUrl).toBeUndefined();
    expect(config.database).toMatchObject({
      appUser: 'nest_rls_app',
      migrateOnStart: true,
      embedded: { dir: '.data/postgres', port: 54329, database: 'nest_rls_auth' },
    });
    // Unset module settings stay unset: AuthModule applies its one set of defaults.
    expect(config.auth.rateLimit).toBeUndefined();
    expect(config.auth.sessions).toBeUndefined();
    expect(config.auth.database).toEqual({});
    const settings = resolveAuthSettings({ ...config.auth, database: { ...config.auth.database, url: 'postgres://x@127.0.0.1/db' } });
    expect(settings.rateLimit).toEqual({ windowSeconds: 60, loginPerIp: 20, loginPerAccount: 5, registerPerIp: 10, refreshPerIp: 120, passwordPerIp: 10, passwordPerUser: 5 });
    expect(settings.database).toEqual({ url: 'postgres://x@127.0.0.1/db', poolMax: 10, acquireTimeoutMs: 5000, statementTimeoutMs: 10_000 });
    expect(settings.accessToken).toMatchObject({ algorithm: 'HS256', issuer: 'nest-rls-auth', audience: 'nest-rls-auth', ttlSeconds: 900 });
    expect(settings.refreshToken).toMatchObject({ ttlSeconds: 30 * 86_400, graceSeconds: 10 });
    expect(settings.sessions).toEqual({ ...AUTH_DEFAULTS.sessions, idleTimeoutSeconds: 14 * 86_400, absoluteLifetimeSeconds: 90 * 86_400 });
    expect(settings.bcryptCost).toBe(12);
    expect([...config.generatedSecrets].sort()).toEqual(['DATABASE_APP_PASSWORD', 'JWT_ACCESS_SECRET', 'REFRESH_TOKEN_SECRET']);
  });

  it('generates strong, distinct secrets that change on every load', () => {
    const first = loadConfig({});
    const second = loadConfig({});
    const secrets = [first.auth.accessToken!.secret!, first.auth.refreshToken.secret, first.database.appPassword];

    for (const secret of secrets) expect(secret.length).toBeGreaterThanOrEqual(32);
    expect(new Set(secrets).size).toBe(3);
    expect(second.auth.accessToken!.secret).not.toBe(first.auth.accessToken!.secret);
    expect(second.auth.refreshToken.secret).not.toBe(first.auth.refreshToken.secret);
    expect(second.database.appPassword).not.toBe(first.database.appPassword);
  });

  it.each([
    ['PORT', 'abc'],
    ['BCRYPT_COST', '99'],
    ['DATABASE_URL', 'mysql://root:secret@127.0.0.1:3306/app'],
    ['TRUST_PROXY', 'garbage'],
    ['JWT_ACCESS_SECRET', 'too-short-secret'],
    ['REFRESH_TOKEN_TRANSPORT', 'header'],
    ['EXAMPLE_WEB_ENABLED', 'maybe'],
  ])('rejects %s=%s with a ConfigError naming that variable', (name, value) => {
    const error = configError({ [name]: value });

    expect(error.problems.length).toBeGreaterThan(0);
    for (const problem of error.problems) expect(problem).toContain(name);
    expect(error.message).toContain(name);
  });

  it('reads REFRESH_TOKEN_TRANSPORT and hands CORS_ORIGINS to AuthModule as the origins that may use the refresh cookie', () => {
    for (const transport of ['body', 'cookie', 'both'] as const) {
      const config = loadConfig({ REFRESH_TOKEN_TRANSPORT: transport, CORS_ORIGINS: 'https://app.example.test, http://localhost:5173' });
      expect(config.auth.refreshToken.transport).toBe(transport);
      const settings = resolveAuthSettings({ ...config.auth, database: { ...config.auth.database, url: 'postgres://app@127.0.0.1/db' } });
      expect(settings.refreshToken.transport).toBe(transport);
      expect(settings.refreshToken.allowedOrigins).toEqual(['https://app.example.test', 'http://localhost:5173']);
    }
  });

  it('warns when the example web client is on but refresh tokens travel only in bodies', () => {
    expect(loadConfig({ EXAMPLE_WEB_ENABLED: 'true' }).warnings).toEqual([expect.stringContaining('REFRESH_TOKEN_TRANSPORT')]);
    expect(loadConfig({ EXAMPLE_WEB_ENABLED: 'true', REFRESH_TOKEN_TRANSPORT: 'both' }).warnings).toEqual([]);
    expect(loadConfig({ EXAMPLE_WEB_ENABLED: 'true', REFRESH_TOKEN_TRANSPORT: 'both' }).http.exampleWebEnabled).toBe(true);
  });

  it('does not echo a rejected secret in the error message', () => {
    const error = configError({ JWT_ACCESS_SECRET: 'too-short-secret' });

    expect(error.message).not.toContain('too-short-secret');
  });

  it('reports every invalid variable at once', () => {
    const error = configError({ PORT: 'abc', BCRYPT_COST: '99', TRUST_PROXY: 'garbage' });

    const names = ['PORT', 'BCRYPT_COST', 'TRUST_PROXY'];
    for (const name of names) expect(error.problems.some((problem) => problem.includes(name))).toBe(true);
    for (const problem of error.problems) expect(names.some((name) => problem.includes(name))).toBe(true);
  });

  it('in production refuses to start without JWT_ACCESS_SECRET, REFRESH_TOKEN_SECRET and DATABASE_APP_PASSWORD, naming each', () => {
    const error = configError({ NODE_ENV: 'production' });

    expect(error.problems).toHaveLength(3);
    for (const name of REQUIRED_IN_PRODUCTION) {
      expect(error.problems.filter((problem) => problem.includes(name))).toHaveLength(1);
    }
  });

  it.each(REQUIRED_IN_PRODUCTION)('in production refuses to start when only %s is missing, and names it', (missing) => {
    const error = configError({ NODE_ENV: 'production', ...PRODUCTION_SECRETS, [missing]: undefined });

    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toContain(missing);
    expect(error.problems[0]).toContain('NODE_ENV=production');
  });

  it('in production with real values loads them and generates nothing', () => {
    const config = loadConfig({ NODE_ENV: 'production', ...PRODUCTION_SECRETS });

    expect(config.env).toBe('production');
    expect(config.generatedSecrets).toEqual([]);
    expect(config.auth.accessToken!.secret).toBe(ACCESS_SECRET);
    expect(config.auth.refreshToken.secret).toBe(REFRESH_SECRET);
    expect(config.database.appPassword).toBe(APP_PASSWORD);
  });

  it('treats empty strings as unset: defaults apply and empty secrets are generated', () => {
    const config = loadConfig({ NODE_ENV: '', PORT: '', BCRYPT_COST: '', DATABASE_URL: '', JWT_ACCESS_SECRET: '', TRUST_PROXY: '' });

    expect(config.env).toBe('development');
    expect(config.http.port).toBe(3000);
    expect(config.http.trustProxy).toBe(false);
    expect(config.auth.bcryptCost).toBeUndefined(); // AuthModule's default (12) applies
    expect(config.database.url).toBeUndefined();
    expect(config.generatedSecrets).toContain('JWT_ACCESS_SECRET');
  });

  it('in production treats an empty secret as missing', () => {
    const error = configError({ NODE_ENV: 'production', ...PRODUCTION_SECRETS, REFRESH_TOKEN_SECRET: '' });

    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toContain('REFRESH_TOKEN_SECRET');
  });
});

describe('TRUST_PROXY=true (the client writes the left-most X-Forwarded-For address)', () => {
  it('is refused in production with a ConfigError naming it and asking for a hop count or the proxies\' addresses', () => {
    const error = configError({ NODE_ENV: 'production', ...PRODUCTION_SECRETS, TRUST_PROXY: 'true' });

    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toContain('TRUST_PROXY=true');
    expect(error.problems[0]).toContain('NODE_ENV=production');
    expect(error.problems[0]).toContain('TRUST_PROXY=1');
    expect(error.problems[0]).toContain('addresses/subnets');
  });

  it.each([
    ['1', 1],
    ['2', 2],
    ['10.0.0.0/8', '10.0.0.0/8'],
    ['loopback', 'loopback'],
    ['10.0.0.1, 10.0.0.2', '10.0.0.1, 10.0.0.2'],
    ['false', false],
  ])('in production TRUST_PROXY=%s (a hop count, addresses or off) loads, without a warning', (value, expected) => {
    const config = loadConfig({ NODE_ENV: 'production', ...PRODUCTION_SECRETS, TRUST_PROXY: value });

    expect(config.http.trustProxy).toEqual(expected);
    expect(config.warnings).toEqual([]);
  });

  it.each(['development', 'test'])('with NODE_ENV=%s loads, trusting the header, and returns a warning that says why and what to set', (env) => {
    const config = loadConfig({ NODE_ENV: env, TRUST_PROXY: 'true' });

    expect(config.http.trustProxy).toBe(true);
    expect(config.warnings).toHaveLength(1);
    expect(config.warnings[0]).toContain('TRUST_PROXY=true');
    expect(config.warnings[0]).toContain('X-Forwarded-For');
    expect(config.warnings[0]).toContain('TRUST_PROXY=1');
    expect(config.warnings[0]).toContain('refused when NODE_ENV=production');
  });

  it('no other setting warns', () => {
    expect(loadConfig({}).warnings).toEqual([]);
    expect(loadConfig({ TRUST_PROXY: '1' }).warnings).toEqual([]);
  });
});

describe('DOCS_ENABLED (Swagger UI at /docs, the OpenAPI document at /docs-json)', () => {
  it('is off by default in production, and DOCS_ENABLED=true turns it on there', () => {
    expect(loadConfig({ NODE_ENV: 'production', ...PRODUCTION_SECRETS }).http.docsEnabled).toBe(false);
    expect(loadConfig({ NODE_ENV: 'production', ...PRODUCTION_SECRETS, DOCS_ENABLED: 'true' }).http.docsEnabled).toBe(true);
    expect(loadConfig({ NODE_ENV: 'production', ...PRODUCTION_SECRETS, DOCS_ENABLED: 'false' }).http.docsEnabled).toBe(false);
  });

  it('is on by default outside production, and DOCS_ENABLED=false turns it off', () => {
    for (const env of ['development', 'test']) {
      expect(loadConfig({ NODE_ENV: env }).http.docsEnabled).toBe(true);
      expect(loadConfig({ NODE_ENV: env, DOCS_ENABLED: 'false' }).http.docsEnabled).toBe(false);
    }
  });
});

describe('token secrets: at least 32 characters and not obviously low-entropy (one rule for the environment and AuthModule options)', () => {
  const LOW_ENTROPY: Array<[string, string]> = [
    ["32 × 'a'", 'a'.repeat(32)],
    ["'ab' × 16", 'ab'.repeat(16)],
    ['one character and a different last one', `${'0'.repeat(31)}1`],
    ['four symbols', 'abcd'.repeat(4) + 'dcba'.repeat(4)],
    ["'abcdefgh' × 4 (a repeated run)", 'abcdefgh'.repeat(4)],
    ["'password' × 4", 'password'.repeat(4)],
    ['half of a random key, twice', (() => { const half = randomBytes(12).toString('base64'); return half + half; })()],
    ["'changeme-' repeated, cut off", 'changeme-'.repeat(5).slice(0, 40)],
  ];
  const GOOD: Array<[string, string]> = [
    ['openssl rand -hex 16', randomBytes(16).toString('hex')],
    ['openssl rand -base64 32', randomBytes(32).toString('base64')],
    ['openssl rand -base64 24', randomBytes(24).toString('base64')],
    ['the test app\'s access secret', 'test-access-secret-0123456789abcdef0123456789'],
    ['the test app\'s refresh secret', 'test-refresh-secret-0123456789abcdef012345678'],
    ['the host-app test\'s access secret', 'host-access-secret-0123456789abcdef0123456789'],
    ['the host-app test\'s refresh secret', 'host-refresh-secret-0123456789abcdef012345678'],
  ];
  const SECRET_VARIABLES = ['JWT_ACCESS_SECRET', 'REFRESH_TOKEN_SECRET'] as const;
  /** A good secret that differs from `value`, for the other of the two. */
  const other = (value: string): string => (value === ACCESS_SECRET ? REFRESH_SECRET : ACCESS_SECRET);
  const hostOptions = (access: string, refresh: string): AuthModuleOptions => ({ accessToken: { secret: access }, refreshToken: { secret: refresh } });

  it.each(LOW_ENTROPY)('refuses %s as JWT_ACCESS_SECRET and as REFRESH_TOKEN_SECRET, naming the variable and how to make a good one, without echoing it', (_, value) => {
    for (const name of SECRET_VARIABLES) {
      for (const env of ['development', 'production']) {
        const error = configError({ NODE_ENV: env, ...PRODUCTION_SECRETS, [name]: value });

        expect(error.problems).toHaveLength(1);
        expect(error.problems[0]).toMatch(new RegExp(`^${name} `));
        expect(error.problems[0]).toContain('openssl rand -base64 32');
        expect(error.message).not.toContain(value);
      }
    }
  });

  it.each(LOW_ENTROPY)('refuses %s as accessToken.secret and as refreshToken.secret of AuthModule.forRoot, naming the option', (_, value) => {
    expect(() => resolveAuthSettings(hostOptions(value, REFRESH_SECRET))).toThrow(/accessToken\.secret is too predictable.*openssl rand -base64 32/);
    expect(() => resolveAuthSettings(hostOptions(ACCESS_SECRET, value))).toThrow(/refreshToken\.secret is too predictable.*openssl rand -base64 32/);
  });

  it.each(GOOD)('accepts %s in the environment and in AuthModule options', (_, value) => {
    for (const name of SECRET_VARIABLES) {
      const config = loadConfig({ NODE_ENV: 'production', ...PRODUCTION_SECRETS, [name]: value });
      expect(name === 'JWT_ACCESS_SECRET' ? config.auth.accessToken!.secret : config.auth.refreshToken.secret).toBe(value);
    }
    expect(resolveAuthSettings(hostOptions(value, other(value))).accessToken.secret).toBe(value);
    expect(resolveAuthSettings(hostOptions(other(value), value)).refreshToken.secret).toBe(value);
  });

  it('accepts each of 100000 fresh 32-hex-character keys (the shortest random key asked for, where the estimate is lowest)', () => {
    // The rule both loadConfig and resolveAuthSettings apply (the tests above show they do).
    const refused = Array.from({ length: 100_000 }, () => randomBytes(16).toString('hex')).filter((value) => secretProblem(value) !== undefined);
    expect(refused).toEqual([]);
  });

  it('AuthModule options: refreshToken.transport defaults to body and must be body, cookie or both; allowedOrigins are normalised http(s) origins', () => {
    expect(resolveAuthSettings(hostOptions(ACCESS_SECRET, REFRESH_SECRET)).refreshToken.transport).toBe('body');
    expect(resolveAuthSettings(hostOptions(ACCESS_SECRET, REFRESH_SECRET)).refreshToken.allowedOrigins).toEqual([]);
    const withCookie = (refreshToken: Partial<AuthModuleOptions['refreshToken']>): AuthModuleOptions => ({
      accessToken: { secret: ACCESS_SECRET },
      refreshToken: { secret: REFRESH_SECRET, ...refreshToken },
    });
    const settings = resolveAuthSettings(withCookie({ transport: 'cookie', allowedOrigins: ['HTTPS://App.Example.TEST:443/', 'http://localhost:5173'] }));
    expect(settings.refreshToken.transport).toBe('cookie');
    expect(settings.refreshToken.allowedOrigins).toEqual(['https://app.example.test', 'http://localhost:5173']);
    expect(() => resolveAuthSettings(withCookie({ transport: 'header' as never }))).toThrow(/refreshToken\.transport must be one of: body, cookie, both/);
    expect(() => resolveAuthSettings(withCookie({ allowedOrigins: ['*'] }))).toThrow(/refreshToken\.allowedOrigins holds "\*", which is not an http\(s\) origin/);
    expect(() => resolveAuthSettings(withCookie({ allowedOrigins: ['ftp://files.example.test'] }))).toThrow(/refreshToken\.allowedOrigins/);
  });

  it('keeps the length floor, with the same hint, in both places', () => {
    const error = configError({ JWT_ACCESS_SECRET: randomBytes(15).toString('hex') });
    expect(error.problems).toEqual(['JWT_ACCESS_SECRET must be at least 32 characters; generate one with: openssl rand -base64 32']);
    expect(() => resolveAuthSettings(hostOptions(ACCESS_SECRET, 'short'))).toThrow(/refreshToken\.secret must be at least 32 characters/);
  });
});

describe('the compiled service entry point (main.js, built from src/main.ts)', () => {
  // A private build of the same sources with the same tsconfig.build.json, not dist/: `npm start`
  // (test/start.e2e-spec.ts, in the other Jest worker) runs `nest build`, which deletes and rewrites
  // dist/ while it builds, so spawning dist/main.js from here at the same moment would be a race.
  // Kept inside the repository (test-artifacts/ is git-ignored) so node_modules resolve as from dist/.
  let artifacts: string;
  let build: string;
  let scratch: string;

  beforeAll(async () => {
    artifacts = join(ROOT, 'test-artifacts');
    await mkdir(artifacts, { recursive: true });
    build = await mkdtemp(join(artifacts, 'config-spec-dist-'));
    scratch = await mkdtemp(join(tmpdir(), 'nra-config-spec-'));
    await chmod(scratch, 0o755);
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    await promisify(execFile)(
      process.execPath,
      [tsc, '-p', 'tsconfig.build.json', '--outDir', build, '--tsBuildInfoFile', join(build, '.tsbuildinfo'), '--declaration', 'false'],
      { cwd: ROOT },
    );
  }, 120_000);

  afterAll(async () => {
    if (build) await rm(build, { recursive: true, force: true });
    if (artifacts) await rmdir(artifacts).catch(() => undefined); // only when nothing else is in it
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it('with NODE_ENV=production and no secrets exits non-zero within seconds, names the missing variables and starts no database', async () => {
    const pgDir = join(scratch, 'pg');
    const started = Date.now();
    const child = spawn(process.execPath, [join(build, 'main.js')], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        NODE_ENV: 'production',
        EMBEDDED_PG_DIR: pgDir,
        EMBEDDED_PG_PORT: String(await freePort()),
        PORT: String(await freePort()),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const guard = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((done) =>
      child.on('close', (c, s) => done([c, s])),
    );
    clearTimeout(guard);
    const elapsed = Date.now() - started;

    expect(signal).toBeNull(); // it exited by itself, it was not killed by the guard
    expect(code).not.toBe(0);
    expect(elapsed).toBeLessThan(15_000);
    for (const name of REQUIRED_IN_PRODUCTION) expect(stderr).toContain(name);
    expect(`${stdout}${stderr}`).not.toMatch(/embedded PostgreSQL|Listening on/);
    expect(existsSync(pgDir)).toBe(false);
    expect(existsSync(`${pgDir}.owner-password`)).toBe(false);
  }, 60_000);

  it('logs the TRUST_PROXY=true warning at start outside production (here before failing to reach a database that is not there)', async () => {
    const child = spawn(process.execPath, [join(build, 'main.js')], {
      cwd: scratch, // no .env here
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        NODE_ENV: 'development',
        TRUST_PROXY: 'true',
        DATABASE_URL: `postgres://nobody@127.0.0.1:${await freePort()}/nothing`,
        PORT: String(await freePort()),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const guard = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((done) => child.on('close', (c, s) => done([c, s])));
    clearTimeout(guard);

    expect(signal).toBeNull();
    expect(code).not.toBe(0);
    expect(output).toMatch(/WARN.*TRUST_PROXY=true trusts every address in X-Forwarded-For/);
    expect(output).not.toContain('Listening on');
  }, 60_000);
});

describe('one set of rules for the environment and AuthModule options', () => {
  const host = (extra: Partial<AuthModuleOptions>): AuthModuleOptions => ({
    accessToken: { secret: ACCESS_SECRET, ...extra.accessToken },
    refreshToken: { secret: REFRESH_SECRET, ...extra.refreshToken },
    ...(extra.sessions ? { sessions: extra.sessions } : {}),
    ...(extra.bcryptCost !== undefined ? { bcryptCost: extra.bcryptCost } : {}),
  });

  it.each([
    ['ACCESS_TOKEN_TTL', '10', { accessToken: { ttlSeconds: 10 } }, 'accessToken.ttlSeconds', 'must be an integer from 30 to 86400'],
    ['BCRYPT_COST', '3', { bcryptCost: 3 }, 'bcryptCost', 'must be an integer from 4 to 15'],
    ['REFRESH_GRACE_SECONDS', '301', { refreshToken: { secret: REFRESH_SECRET, graceSeconds: 301 } }, 'refreshToken.graceSeconds', 'must be an integer from 0 to 300'],
    ['SESSION_ABSOLUTE_LIFETIME', '100', { sessions: { idleTimeoutSeconds: 200, absoluteLifetimeSeconds: 100 } }, 'sessions.absoluteLifetimeSeconds', 'must be at least the idle timeout'],
  ] as const)('%s=%s and the option %s are refused with the same message', (name, value, options, path, message) => {
    const env: Record<string, string> = { [name]: value };
    if (name === 'SESSION_ABSOLUTE_LIFETIME') env.SESSION_IDLE_TIMEOUT = '200';
    expect(configError(env).problems).toEqual([`${name} ${message}`]);
    expect(() => resolveAuthSettings(host(options as Partial<AuthModuleOptions>))).toThrow(`Invalid AuthModule options: ${path} ${message}`);
  });

  it('a host that sets nothing but the secrets gets exactly AUTH_DEFAULTS', () => {
    const settings = resolveAuthSettings(host({}));
    expect(settings).toEqual({
      ...AUTH_DEFAULTS,
      accessToken: { ...AUTH_DEFAULTS.accessToken, secret: ACCESS_SECRET },
      refreshToken: { ...AUTH_DEFAULTS.refreshToken, secret: REFRESH_SECRET },
      database: undefined,
    });
  });
});
