'use strict';
// Load benchmark of the service (see bench/README section in RESULTS.md for the method).
//
//   npm run bench          full run (about 10–20 minutes), writes bench/RESULTS.md
//   npm run bench:quick    the same code with tiny sizes (well under a minute); asserts only that
//                          every scenario completed with zero non-2xx responses and no errors
//
// Both npm scripts build the service first. Environment:
//   BENCH_DATABASE_URL   a superuser URL of a PostgreSQL server to use instead of the embedded one
//                        (a fresh database is created on it and dropped at the end)
//   BENCH_DURATION, BENCH_RUNS, BENCH_CONNECTIONS   override the measured run length (s), the runs
//                        per figure and the connections of S1/S2/S4
//   BENCH_CPU_PROF=1     start the service, the floor and the stack floors with --cpu-prof (profiles in
//                        bench/results/profiles, one per process: the pid is in the log and the file name)
//   BENCH_NODE_ARGS      extra node options for the service process (experiments: V8 heap flags...)
//   BENCH_ONLY=S1,S2,S4,scale,mem   a development loop: only these scenarios at the small size, each
//                        paired with its floor and the stack floors (and with `scale` again at the
//                        large size; `mem` the memory run); prints the figures and writes
//                        bench/results/only-*.json, never RESULTS.md
const { randomBytes } = require('node:crypto');
const { spawn, execFileSync } = require('node:child_process');
const { existsSync } = require('node:fs');
const { chmod, cp, mkdir, mkdtemp, rm, symlink, writeFile } = require('node:fs/promises');
const os = require('node:os');
const { join } = require('node:path');
const bcrypt = require('bcrypt');
const { startDatabase, withClient, withCredentials } = require('./lib/database');
const { startService, serviceEnv, startProcess, watchMemory, readMemory, ROOT } = require('./lib/service');
const { runLoad, perConnection, dealer } = require('./lib/load');
const { startCapture, compare } = require('./lib/capture');
const { setConfigFromCapture, formsFromCapture } = require('./hot-paths');
const { explainHotPaths, explainPurge } = require('./lib/explain');
const seed = require('./lib/seed');
const { writeReport } = require('./lib/report');
const { STACKS } = require('./lib/stacks');
const { sleep, summary, log } = require('./lib/util');

const QUICK = process.argv.includes('--quick');
const ONLY = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(',').map((x) => x.trim())) : null;
const envNum = (name, fallback) => (process.env[name] ? Number(process.env[name]) : fallback);

const P = QUICK
  ? {
      mode: 'quick',
      runs: envNum('BENCH_RUNS', 1),
      duration: envNum('BENCH_DURATION', 0.3),
      warmup: 0,
      s3Duration: 0.5,
      s3Warmup: 0,
      bcryptCost: 4, // quick runs prove the harness, not bcrypt: the cheapest cost keeps them in seconds
      conns: envNum('BENCH_CONNECTIONS', 4),
      s3Conns: 2,
      memConns: 8,
      small: { users: 10, perUser: 10 },
      large: { users: 200, perUser: 10 },
      ended: 2_000,
      purgeRuns: 1,
      purgeAlone: 0.3,
      purgeBatchSize: 200,
    }
  : {
      mode: 'full',
      runs: envNum('BENCH_RUNS', 3),
      duration: envNum('BENCH_DURATION', 10),
      warmup: 3,
      s3Duration: 15,
      s3Warmup: 3,
      bcryptCost: 12, // the service's default BCRYPT_COST, used for S3 and its floor
      conns: envNum('BENCH_CONNECTIONS', 32),
      s3Conns: 8,
      memConns: 100,
      small: { users: 100, perUser: 10 },
      large: { users: 100_000, perUser: 10 },
      ended: 1_000_000,
      purgeRuns: 3,
      purgeAlone: 10,
      purgeBatchSize: 5_000, // the service's default PURGE_BATCH_SIZE
    };

const BCRYPT_COST = P.bcryptCost;
const SEED_COST = 4; // seeded users' stored hashes: bcrypt.compare works at any stored cost
const BENCH_PASSWORD = 'bench-password-seeded-users';
const S3_EMAIL = 'bench-s3@bench.test';
const S3_PASSWORD = 'bench-s3-password-correct-horse';
const RETENTION_SECONDS = 30 * 86_400; // the service's default SESSION_RETENTION
const POOL_MAX = 10; // the service's default DATABASE_POOL_MAX, also the floor's pool

const results = {
  mode: P.mode,
  params: P,
  bcryptCost: BCRYPT_COST,
  poolMax: POOL_MAX,
  startedAt: new Date().toISOString(),
  machine: {},
  versions: {},
  phases: {},
  pairs: {},
  variants: {},
  memory: null,
  purge: { runs: [] },
  explain: null,
  purgePlans: null,
  statements: null,
  failures: [],
};

const cleanups = [];
let tmpRoot;
let appDir;

/**
 * A private copy of the build (dist/ and migrations/, node_modules linked): other work on this
 * checkout may rebuild dist/ (nest build empties it first) while the bench runs for minutes.
 */
async function snapshotBuild() {
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

// ---------------------------------------------------------------------------------------------
// HTTP helpers (outside measurements)

async function http(baseUrl, method, path, { body, token } = {}) {
  const res = await fetch(baseUrl + path, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, body: json };
}

async function login(baseUrl, email, password) {
  const r = await http(baseUrl, 'POST', '/auth/login', { body: { email, password, deviceName: 'bench' } });
  if (r.status !== 200) throw new Error(`login ${email}: ${r.status} ${JSON.stringify(r.body)}`);
  const claims = JSON.parse(Buffer.from(r.body.accessToken.split('.')[1], 'base64url').toString());
  return { userId: claims.sub, sessionId: r.body.sessionId, access: r.body.accessToken, refresh: r.body.refreshToken };
}

async function inBatches(items, width, fn) {
  const out = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i], i);
      }
    }),
  );
  return out;
}

/**
 * Signs in the phase's bench users (seeded, cost-4 hashes: fast). Each gets an access token (S1, S4)
 * and a refresh-token chain for the service (S2); the first `conns` also get a second session whose
 * chain the floor rotates (the floor issues no real tokens, so the two chains must not mix).
 */
async function signInBenchUsers(svc, numbers) {
  return inBatches(numbers, 4, async (n, i) => {
    const email = `bench-user-${n}@bench.test`;
    const a = await login(svc.baseUrl, email, BENCH_PASSWORD);
    const user = { n, email, userId: a.userId, sessionId: a.sessionId, access: a.access, chain: { token: a.refresh } };
    if (i < P.conns) user.floorChain = { token: (await login(svc.baseUrl, email, BENCH_PASSWORD)).refresh };
    return user;
  });
}

/** After a refresh run: re-sync every chain (a response cut off at the end of the run leaves the
 * client one token behind; within the grace window the server answers with the same successor). */
async function resyncChains(baseUrl, path, chains) {
  await inBatches(chains, 8, async (chain) => {
    const r = await http(baseUrl, 'POST', path, { body: { refreshToken: chain.token } });
    if (r.status !== 200) throw new Error(`re-sync of a refresh chain at ${baseUrl}${path}: ${r.status}`);
    chain.token = r.body.refreshToken;
  });
}

// ---------------------------------------------------------------------------------------------
// Scenarios

function bearerRequest(path, users) {
  return [
    perConnection({
      method: 'GET',
      path,
      assign: dealer(users),
      build: (req, u) => {
        req.headers = { ...req.headers, authorization: `Bearer ${u.access}` };
        return req;
      },
    }),
  ];
}

function refreshRequest(path, chains) {
  return [
    perConnection({
      method: 'POST',
      path,
      headers: { 'content-type': 'application/json' },
      assign: dealer(chains, { exclusive: true }),
      build: (req, chain) => {
        req.body = `{"refreshToken":"${chain.token}"}`;
        return req;
      },
      onResponse: (status, body, chain) => {
        if (status !== 200) return;
        const m = /"refreshToken":"([^"]+)"/.exec(body);
        if (m) chain.token = m[1];
      },
    }),
  ];
}

/** name → { target, run(seconds) } for a phase's users. */
function scenarios(svc, floor, users, stacks = {}) {
  const sample = users.slice(0, P.conns);
  const svcChains = sample.map((u) => u.chain);
  const floorChains = sample.map((u) => u.floorChain);
  const load = (base, requests, after, connections = P.conns, timeout = 10) => ({
    run: async (seconds, extra = {}) => {
      const r = await runLoad({ url: base.baseUrl, pid: base.pid, connections, duration: seconds, requests: requests(), timeout, ...extra });
      base.assertAlive?.();
      if (after) await after();
      return r;
    },
  });
  return {
    S1: load(svc, () => bearerRequest('/sessions', sample)),
    F1: load(floor, () => bearerRequest('/sessions', sample)),
    S2: load(svc, () => refreshRequest('/auth/refresh', svcChains), () => resyncChains(svc.baseUrl, '/auth/refresh', svcChains)),
    F2: load(floor, () => refreshRequest('/auth/refresh', floorChains), () => resyncChains(floor.baseUrl, '/auth/refresh', floorChains)),
    F2m: load(floor, () => refreshRequest('/auth/refresh-mirror', floorChains), () => resyncChains(floor.baseUrl, '/auth/refresh', floorChains)),
    // The stack floors (bench/stack-floor.js) continue the floor's refresh chains (same token format, same checks).
    ...Object.fromEntries(
      Object.entries(stacks).flatMap(([letter, base]) => [
        [`${letter}1`, load(base, () => bearerRequest('/sessions', sample))],
        [`${letter}2`, load(base, () => refreshRequest('/auth/refresh', floorChains), () => resyncChains(base.baseUrl, '/auth/refresh', floorChains))],
        [`${letter}4`, load(base, () => bearerRequest('/auth/me', sample))],
      ]),
    ),
    S4: load(svc, () => bearerRequest('/auth/me', sample)),
    F4: load(floor, () => bearerRequest('/auth/me', sample)),
    S3: load(
      svc,
      () => [{ method: 'POST', path: '/auth/login', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: S3_EMAIL, password: S3_PASSWORD }) }],
      null,
      P.s3Conns,
      60,
    ),
    B3: { run: (seconds, { warmup = 0 } = {}) => bcryptFloor(seconds, warmup) },
    S1mem: load(svc, () => bearerRequest('/sessions', users.slice(0, P.memConns)), null, P.memConns),
  };
}

function bcryptFloor(seconds, warmup) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(__dirname, 'bcrypt-floor.js'), String(BCRYPT_COST), String(P.s3Conns), String(seconds), String(warmup)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`bcrypt floor exited with ${code}`));
      const r = JSON.parse(out.trim().split('\n').pop());
      resolve({ ...r, ok: r.ops, non2xx: 0, errors: 0, timeouts: 0, statusCodes: {} });
    });
  });
}

/**
 * Records a failure for any non-2xx response, connection error or timeout; and for a measured run
 * that completed no request at all. A warm-up, a bcrypt floor run or the S1 run during a tiny purge
 * may legitimately complete nothing in its window (a cost-12 compare can outlast a 3 s warm-up on a
 * busy machine): `required: false`.
 */
function check(label, r, { required = true } = {}) {
  const bad = r.non2xx || r.errors || r.timeouts;
  const empty = !(r.ok > 0);
  if (bad || (empty && required)) {
    const msg = `${label}: ${r.ok} ok, ${r.non2xx} non-2xx ${JSON.stringify(r.statusCodes)}, ${r.errors} errors, ${r.timeouts} timeouts`;
    results.failures.push(msg);
    log(`FAILED ${msg}`);
  }
}

const fmt = (r) => `${r.rps.toFixed(1)} req/s, p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms${r.non2xx ? `, ${r.non2xx} non-2xx` : ''}`;

/**
 * Warm-up, then `runs` measured runs, alternating the scenario, its floor (if any) and any `also`
 * (the stack floors: entry.also[name] with the same figures and their ratios to the floor).
 */
async function measure(key, sc, name, floorName, { duration = P.duration, warmup = P.warmup, also = [] } = {}) {
  const entry = { scenario: name, floor: floorName, runs: [], floorRuns: [], also: {} };
  for (const a of also) entry.also[a] = { runs: [] };
  const floorRequired = floorName !== 'B3';
  if (warmup > 0) {
    check(`${key} ${name} warm-up`, await sc[name].run(warmup), { required: false });
    if (floorName) check(`${key} ${floorName} warm-up`, await sc[floorName].run(warmup), { required: false });
    for (const a of also) check(`${key} ${a} warm-up`, await sc[a].run(warmup), { required: false });
  }
  for (let i = 0; i < P.runs; i++) {
    const r = await sc[name].run(duration);
    check(`${key} ${name} run ${i + 1}`, r);
    entry.runs.push(r);
    log(`${key} ${name} run ${i + 1}: ${fmt(r)}`);
    if (floorName) {
      const f = await sc[floorName].run(duration);
      check(`${key} ${floorName} run ${i + 1}`, f, { required: floorRequired });
      entry.floorRuns.push(f);
      log(`${key} ${floorName} run ${i + 1}: ${fmt(f)}`);
    }
    for (const a of also) {
      const g = await sc[a].run(duration);
      check(`${key} ${a} run ${i + 1}`, g);
      entry.also[a].runs.push(g);
      log(`${key} ${a} run ${i + 1}: ${fmt(g)}`);
    }
  }
  entry.rps = summary(entry.runs.map((r) => r.rps));
  entry.p50 = summary(entry.runs.map((r) => r.p50));
  entry.p99 = summary(entry.runs.map((r) => r.p99));
  entry.cpu = summary(entry.runs.map((r) => r.serverCpuMsPerRequest));
  entry.loadCpu = summary(entry.runs.map((r) => r.loadCpuMsPerRequest));
  if (floorName) {
    entry.floorCpu = summary(entry.floorRuns.map((r) => r.serverCpuMsPerRequest));
    entry.floorRps = summary(entry.floorRuns.map((r) => r.rps));
    entry.floorP50 = summary(entry.floorRuns.map((r) => r.p50));
    entry.floorP99 = summary(entry.floorRuns.map((r) => r.p99));
    entry.ratio = summary(entry.runs.map((r, i) => r.rps / entry.floorRuns[i].rps));
    entry.ratio.median = entry.rps.median / entry.floorRps.median; // ratio of the medians
  }
  for (const a of also) {
    const x = entry.also[a];
    x.rps = summary(x.runs.map((r) => r.rps));
    x.p50 = summary(x.runs.map((r) => r.p50));
    x.p99 = summary(x.runs.map((r) => r.p99));
    x.cpu = summary(x.runs.map((r) => r.serverCpuMsPerRequest));
    x.ratio = summary(x.runs.map((r, i) => r.rps / entry.floorRuns[i].rps)); // to the floor
    x.ratio.median = x.rps.median / entry.floorRps.median;
    x.serviceTo = summary(entry.runs.map((r, i) => r.rps / x.runs[i].rps)); // the service's, to this one
    x.serviceTo.median = entry.rps.median / x.rps.median;
  }
  return entry;
}

// ---------------------------------------------------------------------------------------------
// Phases

async function seedSmall(db) {
  log(`seeding ${P.small.users} users × ${P.small.perUser} sessions`);
  const pw = await bcrypt.hash(BENCH_PASSWORD, SEED_COST);
  const s3 = await bcrypt.hash(S3_PASSWORD, BCRYPT_COST);
  await withClient(db.ownerUrl, async (c) => {
    await seed.seedUsers(c, { from: 1, to: P.small.users, passwordHash: pw });
    await c.query(
      `insert into users (id, email, password_hash, display_name) values (md5('nra-bench-s3')::uuid, $1, $2, 'S3 (cost ${BCRYPT_COST})')`,
      [S3_EMAIL, s3],
    );
    await seed.seedLiveSessions(c, { from: 1, to: P.small.users, perUser: P.small.perUser });
    await seed.settle(c);
  });
  return pw;
}

async function seedLarge(db, pw) {
  const from = P.small.users + 1;
  log(`seeding users ${from}..${P.large.users} × ${P.large.perUser} sessions`);
  const t = Date.now();
  await withClient(db.ownerUrl, async (c) => {
    await seed.seedUsers(c, { from, to: P.large.users, passwordHash: pw });
    await seed.seedLiveSessions(c, { from, to: P.large.users, perUser: P.large.perUser });
    log(`  inserted in ${((Date.now() - t) / 1000).toFixed(1)} s; vacuum, analyze, checkpoint`);
    await seed.settle(c);
  });
  results.seedLargeSeconds = (Date.now() - t) / 1000;
}

async function phaseCounts(db) {
  return withClient(db.ownerUrl, (c) => seed.counts(c));
}

/**
 * One request of each scenario to the service, with PostgreSQL logging every statement; then the
 * floor is started with the service's exact set_config statement (it carries extra settings in
 * some versions) and each statement in the form the service used (values inlined or bound), and
 * gets the same requests; the two sequences are compared statement by statement.
 * Without statement logging (external server) the floor uses hot-paths.js as written.
 */
async function captureAndStartFloor(db, svc, startFloor) {
  const cap = await startCapture(db);
  if (!cap) {
    results.statements = { skipped: 'statement logging is captured from the embedded server only (BENCH_DATABASE_URL is set)' };
    return startFloor(null, null);
  }
  const expect200 = (label, r) => {
    if (r.status !== 200) results.failures.push(`statement capture ${label}: HTTP ${r.status}`);
    return r;
  };
  let floor;
  try {
    await cap.mark('S3');
    const t = await login(svc.baseUrl, S3_EMAIL, S3_PASSWORD);
    await cap.mark('S1');
    expect200('S1', await http(svc.baseUrl, 'GET', '/sessions', { token: t.access }));
    await cap.mark('S2');
    const r2 = expect200('S2', await http(svc.baseUrl, 'POST', '/auth/refresh', { body: { refreshToken: t.refresh } }));
    await cap.mark('S4');
    expect200('S4', await http(svc.baseUrl, 'GET', '/auth/me', { token: t.access }));
    await cap.mark('service-end');
    await sleep(300);
    const serviceStatements = cap.snapshot();
    results.setConfig = setConfigFromCapture(serviceStatements.S1);
    if (!results.setConfig) results.failures.push('statement capture: no set_config statement found in S1');
    results.forms = formsFromCapture(serviceStatements);
    floor = await startFloor(results.setConfig, results.forms);
    await cap.mark('F1');
    expect200('F1', await http(floor.baseUrl, 'GET', '/sessions', { token: t.access }));
    await cap.mark('F2');
    const f2 = expect200('F2', await http(floor.baseUrl, 'POST', '/auth/refresh', { body: { refreshToken: r2.body.refreshToken } }));
    await cap.mark('F2m');
    expect200('F2m', await http(floor.baseUrl, 'POST', '/auth/refresh-mirror', { body: { refreshToken: f2.body.refreshToken } }));
    await cap.mark('F4');
    expect200('F4', await http(floor.baseUrl, 'GET', '/auth/me', { token: t.access }));
    await cap.mark('end');
  } finally {
    const seg = await cap.stop();
    results.statements = {
      raw: seg,
      S1: compare(seg.S1, seg.F1),
      S2: compare(seg.S2, seg.F2),
      S2mirror: compare(seg.S2, seg.F2m),
      S4: compare(seg.S4, seg.F4),
    };
  }
  const st = results.statements;
  for (const [k, same] of [
    ['S1', st.S1.same],
    ['S2', st.S2.same || st.S2mirror.same],
    ['S4', st.S4.same],
  ]) {
    if (!same) log(`WARNING: the floor's statements for ${k} differ from the service's (see the report)`);
  }
  return floor;
}

async function runPurge(db, svc, sc, index) {
  const entry = { run: index + 1 };
  log(`purge run ${index + 1}: seeding ${P.ended} ended sessions`);
  await withClient(db.ownerUrl, async (c) => {
    await seed.seedEndedSessions(c, { from: 1, to: P.large.users, count: P.ended });
    await seed.settle(c, ['sessions']);
    entry.before = await seed.counts(c);
  });
  if (index === 0) {
    log('purge: explaining the DELETE inside purge_ended_sessions (7 calls in one session, rolled back)');
    results.purgePlans = await explainPurge({ ownerUrl: db.ownerUrl, retentionSeconds: RETENTION_SECONDS, batchSize: P.purgeBatchSize });
  }
  const alone = await sc.S1.run(P.purgeAlone);
  check(`purge run ${index + 1} S1 alone`, alone);
  entry.alone = alone;
  log(`purge run ${index + 1} S1 alone: ${fmt(alone)}`);

  const env = serviceEnv({
    ownerUrl: db.ownerUrl,
    secrets: results.secrets,
    extraEnv: { BENCH_APP_DIR: appDir, MIGRATE_ON_START: 'false', PURGE_BATCH_SIZE: String(P.purgeBatchSize), ...(BCRYPT_COST === 12 ? {} : { BCRYPT_COST: String(BCRYPT_COST) }) },
  });
  const child = spawn(process.execPath, ['-r', join(__dirname, 'purge-timer.js'), join(appDir, 'dist', 'cli', 'purge-sessions.js')], {
    cwd: tmpRoot,
    env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  let onLine;
  child.stdout.on('data', (d) => {
    out += d;
    onLine?.();
  });
  child.stderr.on('data', (d) => (err += d));
  const exited = new Promise((r) => child.on('exit', (code) => r(code)));
  const seen = (marker) =>
    new Promise((resolve, reject) => {
      const test = () => {
        if (out.includes(marker)) resolve();
      };
      onLine = test;
      test();
      exited.then((code) => reject(new Error(`purge CLI exited (${code}) before ${marker}: ${err.trim()}`)));
    });
  await seen('BENCH_PURGE_READY');
  const done = seen('BENCH_PURGE_DONE');
  const during = sc.S1.run(3600, { stopWhen: done.catch(() => undefined) });
  await sleep(100); // the load is on before the first batch
  child.stdin.write('go\n');
  child.stdin.end();
  await done;
  entry.during = await during;
  // A tiny purge (quick mode) may finish before a request does.
  check(`purge run ${index + 1} S1 during purge`, entry.during, { required: false });
  const code = await exited;
  const m = /BENCH_PURGE_DONE (\{.*\})/.exec(out);
  const timing = m ? JSON.parse(m[1]) : null;
  if (code !== 0 || !timing) results.failures.push(`purge CLI run ${index + 1}: exit ${code} ${err.trim()}`);
  entry.removed = timing?.removed;
  entry.seconds = timing?.seconds;
  entry.rowsPerSecond = timing ? timing.removed / timing.seconds : NaN;
  entry.cliOutput = out.replace(/BENCH_PURGE_\w+.*\n?/g, '').trim();
  if (timing && timing.removed !== entry.before.ended) {
    results.failures.push(`purge run ${index + 1}: removed ${timing.removed} of ${entry.before.ended} ended sessions`);
  }
  log(
    `purge run ${index + 1}: ${entry.removed} rows in ${entry.seconds?.toFixed(2)} s = ${Math.round(entry.rowsPerSecond)} rows/s; ` +
      `S1 during: ${entry.during.ok ? fmt(entry.during) : 'no request completed'}`,
  );
  await withClient(db.ownerUrl, async (c) => {
    await seed.settle(c, ['sessions']);
    entry.after = await seed.counts(c);
  });
  results.purge.runs.push(entry);
}

// ---------------------------------------------------------------------------------------------

function describeMachine() {
  const cpus = os.cpus();
  let distro = '';
  try {
    distro = /PRETTY_NAME="?([^"\n]*)/.exec(require('node:fs').readFileSync('/etc/os-release', 'utf8'))?.[1] ?? '';
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
  results.machine = {
    cpu: cpus[0]?.model ?? '?',
    cores: cpus.length,
    memoryGiB: os.totalmem() / 2 ** 30,
    os: `${distro || os.type()} (kernel ${os.release()})`,
    loadavgStart: os.loadavg(),
  };
  results.versions = {
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

async function main() {
  describeMachine();
  tmpRoot = await mkdtemp(join(os.tmpdir(), 'nra-bench-'));
  await chmod(tmpRoot, 0o755);
  cleanups.push(() => rm(tmpRoot, { recursive: true, force: true }));
  const resultsDir = join(ROOT, 'bench', 'results');
  await mkdir(resultsDir, { recursive: true });
  log(`${P.mode} run; temporary files in ${tmpRoot}`);
  appDir = await snapshotBuild();

  const db = await startDatabase({ tmpRoot, appDir });
  cleanups.unshift(() => db.stop());
  results.database = db.description;
  results.versions.postgres = await withClient(db.ownerUrl, async (c) => (await c.query('select version()')).rows[0].version);

  const secrets = {
    appUser: 'nra_bench_app',
    appPassword: randomBytes(18).toString('base64url'),
    jwtSecret: randomBytes(32).toString('base64url'),
    refreshSecret: randomBytes(32).toString('base64url'),
  };
  Object.defineProperty(results, 'secrets', { value: secrets, enumerable: false });
  const runtimeUrl = withCredentials(db.ownerUrl, secrets.appUser, secrets.appPassword);
  const nodeArgs = [
    ...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${join(resultsDir, 'profiles')}`] : []),
    ...(process.env.BENCH_NODE_ARGS ? process.env.BENCH_NODE_ARGS.split(/\s+/).filter(Boolean) : []),
  ];
  const serviceLog = join(tmpRoot, 'service.log');
  // The full run leaves BCRYPT_COST at the service's default (12); the quick run lowers it.
  const costEnv = BCRYPT_COST === 12 ? {} : { BCRYPT_COST: String(BCRYPT_COST) };
  const svc = await startService({ appDir, ownerUrl: db.ownerUrl, secrets, logFile: serviceLog, cwd: tmpRoot, nodeArgs, extraEnv: costEnv });
  cleanups.unshift(() => svc.stop());
  // The LOG_LEVEL=warn variant is a second service process on the same database, idle until its
  // turn (no restarts: the main service keeps its warm JIT and pool for the whole run).
  // Started now, awaited when its turn comes (it starts while the small phase is seeded).
  const svcWarnStarting = startService({
    appDir,
    ownerUrl: db.ownerUrl,
    secrets,
    logFile: join(tmpRoot, 'service-warn.log'),
    cwd: tmpRoot,
    extraEnv: { ...costEnv, LOG_LEVEL: 'warn', MIGRATE_ON_START: 'false' },
  });
  cleanups.unshift(() => svcWarnStarting.then((w) => w.stop(), () => undefined));
  svcWarnStarting.catch(() => undefined); // a failure is reported where it is awaited
  results.memory = { idleAfterStart: readMemory(svc.pid).rss };

  // --- small table ("1k rows") -------------------------------------------------------------
  const pw = await seedSmall(db);
  const smallUsers = await signInBenchUsers(svc, Array.from({ length: Math.max(P.conns, P.memConns) }, (_, i) => i + 1));
  // Nothing else may talk to the database under the same application_name while statements are logged.
  await svcWarnStarting;
  let floorEnv;
  const startFloorProcess = async (name, script, env = floorEnv) => {
    const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${join(resultsDir, 'profiles')}`] : [];
    const f = await startProcess({ name, args: [join(__dirname, script)], env, logFile: join(tmpRoot, `${name}.log`), readyPath: '/health', nodeArgs: profile });
    cleanups.unshift(() => f.stop());
    return f;
  };
  const floor = await captureAndStartFloor(db, svc, async (setConfig, forms) => {
    floorEnv = {
      PATH: process.env.PATH,
      FLOOR_DATABASE_URL: runtimeUrl,
      FLOOR_POOL_MAX: String(POOL_MAX),
      ...(setConfig ? { FLOOR_SET_CONFIG: JSON.stringify(setConfig) } : {}),
      ...(forms ? { FLOOR_STATEMENTS: JSON.stringify(forms) } : {}),
    };
    return startFloorProcess('floor', 'floor-server.js');
  });
  // The same requests and statements on NestJS (Express, Fastify) + MikroORM or pg (bench/stack-floor.js).
  const stacks = {};
  for (const st of STACKS) {
    stacks[st.letter] = await startFloorProcess(st.name, 'stack-floor.js', { ...floorEnv, STACK_FLOOR_DRIVER: st.driver, STACK_FLOOR_ADAPTER: st.adapter });
  }
  results.phases.small = await phaseCounts(db);
  log(`small phase: ${results.phases.small.sessions} sessions, ${results.phases.small.users} users`);
  let sc = scenarios(svc, floor, smallUsers, stacks);
  if (ONLY) return measureOnly(sc, resultsDir, svc, { db, pw, stacks, floor });
  results.pairs.S1 = await measure('1k', sc, 'S1', 'F1', { also: STACKS.map((st) => `${st.letter}1`) });
  results.pairs.S2 = await measure('1k', sc, 'S2', 'F2', { also: STACKS.map((st) => `${st.letter}2`) });
  // Only while the service sends its refresh UPDATE twice: S2 against a floor that does the same.
  if (results.statements?.S2mirror?.same && !results.statements.S2.same) {
    results.pairs.S2mirror = await measure('1k', sc, 'S2', 'F2m', { warmup: 0 });
  }
  results.pairs.S4 = await measure('1k', sc, 'S4', 'F4', { also: STACKS.map((st) => `${st.letter}4`) });
  results.pairs.S3 = await measure('1k', sc, 'S3', 'B3', { duration: P.s3Duration, warmup: P.s3Warmup });

  // --- large table ("1M rows") -------------------------------------------------------------
  await seedLarge(db, pw);
  const span = P.large.users - P.small.users;
  const count = Math.max(P.conns, P.memConns);
  const largeUsers = await signInBenchUsers(
    svc,
    Array.from({ length: count }, (_, i) => P.small.users + 1 + Math.floor((i * span) / count)),
  );
  results.phases.large = await phaseCounts(db);
  log(`large phase: ${results.phases.large.sessions} sessions, ${results.phases.large.users} users`);
  sc = scenarios(svc, floor, largeUsers);
  results.pairs.S1large = await measure('1M', sc, 'S1', 'F1');
  results.pairs.S2large = await measure('1M', sc, 'S2', 'F2');

  // The service sets V8's heap growing factor (src/main.ts); a second process with V8's default
  // (`--heap-growing-percent=0` on its command line wins) shows what that setting buys. Runs alternate.
  log(`memory: S1 at ${P.memConns} connections (and the same against a service with V8's default heap growth)`);
  const svcDefaultHeap = await startService({
    appDir,
    ownerUrl: db.ownerUrl,
    secrets,
    logFile: join(tmpRoot, 'service-default-heap.log'),
    cwd: tmpRoot,
    nodeArgs: [...nodeArgs, '--heap-growing-percent=0'],
    extraEnv: { ...costEnv, MIGRATE_ON_START: 'false' },
  });
  cleanups.unshift(() => svcDefaultHeap.stop());
  const scDefaultHeap = scenarios(svcDefaultHeap, floor, largeUsers);
  if (P.warmup > 0) check('memory (default heap) warm-up', await scDefaultHeap.S1mem.run(P.warmup), { required: false });
  const memoryRun = async (service, s, label, i) => {
    const w = watchMemory(service.pid);
    const r = await s.S1mem.run(P.duration);
    const m = w.stop();
    check(`memory${label} S1@${P.memConns} run ${i + 1}`, r);
    log(`memory${label} run ${i + 1}: peak RSS ${(Math.max(m.hwm, m.maxRss) / 1e6).toFixed(1)} MB (${fmt(r)})`);
    return { ...m, load: r };
  };
  const mem = [];
  const memDefault = [];
  for (let i = 0; i < P.runs; i++) {
    mem.push(await memoryRun(svc, sc, '', i));
    memDefault.push(await memoryRun(svcDefaultHeap, scDefaultHeap, ' (default heap growth)', i));
  }
  await svcDefaultHeap.stop();
  results.memory.runs = mem;
  results.memory.peak = summary(mem.map((m) => Math.max(m.hwm, m.maxRss)));
  results.memory.hwmReset = mem.every((m) => m.hwmReset);
  results.memory.cpu = summary(mem.map((m) => m.load.serverCpuMsPerRequest));
  results.memory.defaultHeap = {
    runs: memDefault,
    peak: summary(memDefault.map((m) => Math.max(m.hwm, m.maxRss))),
    cpu: summary(memDefault.map((m) => m.load.serverCpuMsPerRequest)),
    rps: summary(memDefault.map((m) => m.load.rps)),
  };

  log('EXPLAIN (ANALYZE, BUFFERS) of the hot paths at the large size');
  const st = results.statements;
  results.explain = await explainHotPaths({
    ownerUrl: db.ownerUrl,
    runtimeUrl,
    user: largeUsers[0],
    setConfig: results.setConfig ?? undefined,
    // The second UPDATE only while the service sends it (or when nothing was captured).
  });
  results.explainCounts = results.phases.large;

  // --- LOG_LEVEL=warn variant ----------------------------------------------------------------
  log('LOG_LEVEL=warn variant (second service process)');
  const svcWarn = await svcWarnStarting;
  const scWarn = scenarios(svcWarn, floor, largeUsers);
  // Paired with the floor again, so the ratio compares runs made under the same conditions.
  results.variants.S1warn = await measure('1M warn', { ...scWarn, F1: sc.F1 }, 'S1', 'F1');
  results.variants.S2warn = await measure('1M warn', { ...scWarn, F2: sc.F2 }, 'S2', 'F2');

  // --- purge at scale ------------------------------------------------------------------------
  for (let i = 0; i < P.purgeRuns; i++) await runPurge(db, svc, sc, i);
  const pr = results.purge.runs;
  results.purge.rowsPerSecond = summary(pr.map((r) => r.rowsPerSecond));
  results.purge.aloneP99 = summary(pr.map((r) => r.alone.p99));
  results.purge.duringP99 = summary(pr.map((r) => r.during.p99));
  results.purge.p99Ratio = summary(pr.map((r) => r.during.p99 / r.alone.p99));

  results.machine.loadavgEnd = os.loadavg();
  results.finishedAt = new Date().toISOString();
  results.elapsedSeconds = (Date.parse(results.finishedAt) - Date.parse(results.startedAt)) / 1000;
  const stamp = results.startedAt.replace(/[:.]/g, '-');
  await writeFile(join(resultsDir, `${P.mode}-${stamp}.json`), JSON.stringify(results, null, 2));
  const reportPath = QUICK ? join(resultsDir, 'RESULTS-quick.md') : join(ROOT, 'bench', 'RESULTS.md');
  await writeReport(results, reportPath);
  log(`report written to ${reportPath}`);
}

/** BENCH_ONLY: the chosen scenarios at the small size, a summary on stdout, no report. */
async function measureOnly(sc, resultsDir, svc, { db, pw, floor }) {
  const pairs = { S1: 'F1', S2: 'F2', S4: 'F4' };
  for (const name of ONLY) {
    if (name === 'mem' || name === 'scale') continue;
    if (!pairs[name]) throw new Error(`BENCH_ONLY: unknown scenario ${name} (S1, S2, S4, mem, scale)`);
    const n = name.slice(1);
    const e = (results.pairs[name] = await measure('only', sc, name, pairs[name], { also: STACKS.map((st) => `${st.letter}${n}`) }));
    const g = e.also[`G${n}`];
    const stackText = (key) => STACKS.map((st) => `${st.label} ${key(e.also[`${st.letter}${n}`])}`).join(', ');
    log(
      `${name}: ${e.rps.median.toFixed(1)} req/s = ${e.ratio.median.toFixed(2)}× of floor (${e.floorRps.median.toFixed(1)}); ` +
        `stack floors ${stackText((x) => `${x.ratio.median.toFixed(2)}×`)}; service = ${g.serviceTo.median.toFixed(2)}× of ${STACKS[0].label}; ` +
        `server CPU ms/request: service ${e.cpu.median.toFixed(3)}, floor ${e.floorCpu.median.toFixed(3)}, ${stackText((x) => x.cpu.median.toFixed(3))}`,
    );
  }
  if (ONLY.has('scale')) {
    // The chosen scenarios again at the large size (p50 ratios large / small), against the floor only.
    await seedLarge(db, pw);
    const span = P.large.users - P.small.users;
    const largeUsers = await signInBenchUsers(svc, Array.from({ length: P.conns }, (_, i) => P.small.users + 1 + Math.floor((i * span) / P.conns)));
    const scl = scenarios(svc, floor, largeUsers);
    for (const name of ONLY) {
      if (!pairs[name]) continue;
      const e = (results.pairs[`${name}large`] = await measure('only large', scl, name, pairs[name]));
      const small = results.pairs[name];
      log(
        `${name} at the large size: p50 ${e.p50.median.toFixed(2)} ms = ${(e.p50.median / small.p50.median).toFixed(2)}× of the small size's; ` +
          `floor ${(e.floorP50.median / small.floorP50.median).toFixed(2)}×; ${e.rps.median.toFixed(1)} req/s`,
      );
    }
  }
  if (ONLY.has('mem')) {
    const peaks = [];
    for (let i = 0; i < P.runs; i++) {
      const w = watchMemory(svc.pid);
      const r = await sc.S1mem.run(P.duration);
      const m = w.stop();
      check(`memory run ${i + 1}`, r);
      peaks.push(Math.max(m.hwm, m.maxRss));
      log(`memory run ${i + 1}: peak RSS ${(peaks[i] / 1e6).toFixed(1)} MB (${fmt(r)})`);
    }
    results.memory.peaks = peaks;
  }
  results.finishedAt = new Date().toISOString();
  results.elapsedSeconds = (Date.parse(results.finishedAt) - Date.parse(results.startedAt)) / 1000;
  await writeFile(join(resultsDir, `only-${results.startedAt.replace(/[:.]/g, '-')}.json`), JSON.stringify(results, null, 2));
  await keepLogs();
}

/** On failure, keeps the service's, the floor's and the database's logs (bench/results/logs-<time>/). */
async function keepLogs() {
  if (!tmpRoot) return;
  const { readdir } = require('node:fs/promises');
  const dest = join(ROOT, 'bench', 'results', `logs-${results.startedAt.replace(/[:.]/g, '-')}`);
  try {
    const files = (await readdir(tmpRoot)).filter((f) => f.endsWith('.log'));
    if (!files.length) return;
    await mkdir(dest, { recursive: true });
    const { open } = require('node:fs/promises');
    for (const f of files) {
      // The last 2 MB of each (the service logs a line per request).
      const fh = await open(join(tmpRoot, f), 'r');
      const { size } = await fh.stat();
      const length = Math.min(size, 2 * 2 ** 20);
      const buf = Buffer.alloc(length);
      await fh.read(buf, 0, length, size - length);
      await fh.close();
      await writeFile(join(dest, f), buf);
    }
    log(`logs kept in ${dest}`);
  } catch (err) {
    log(`could not keep the logs: ${err.message}`);
  }
}

async function cleanup() {
  for (const fn of cleanups.splice(0)) {
    try {
      await fn();
    } catch (err) {
      log(`cleanup: ${err.message}`);
    }
  }
}

let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    if (interrupted) return;
    interrupted = true;
    log(`${signal}: stopping`);
    cleanup().finally(() => process.exit(130));
  });
}

main()
  .then(async () => {
    if (results.failures.length) await keepLogs();
    await cleanup();
    if (results.failures.length) {
      log(`FAILED: ${results.failures.length} problem(s):\n  - ${results.failures.join('\n  - ')}`);
      process.exit(1);
    }
    log(`${P.mode} run passed in ${Math.round(results.elapsedSeconds)} s: every scenario completed with zero non-2xx responses and no errors`);
    process.exit(0);
  })
  .catch(async (err) => {
    log(`ERROR: ${err.stack || err}`);
    await keepLogs();
    await cleanup();
    process.exit(1);
  });
