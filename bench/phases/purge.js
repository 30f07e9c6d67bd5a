'use strict';
// Phase 6: the purge at scale. Ended sessions are added to the live ones; S1 runs alone, then
// during `npm run sessions:purge`'s CLI (timed from inside by bench/purge-timer.js).
const { spawn } = require('node:child_process');
const { join } = require('node:path');
const { withClient } = require('../lib/database');
const { explainPurge } = require('../lib/explain');
const { check, fmt } = require('../lib/measure');
const { RETENTION_SECONDS } = require('../lib/params');
const seed = require('../lib/seed');
const { serviceEnv } = require('../lib/service');
const { summary, sleep, log } = require('../lib/util');

/** The purge CLI, stopped before its first batch until `go()`; resolves `ready`, `done` (with its output) and `exited`. */
function startPurgeCli(run, stage) {
  const env = serviceEnv({
    ownerUrl: stage.db.ownerUrl,
    secrets: stage.secrets,
    extraEnv: { BENCH_APP_DIR: run.appDir, MIGRATE_ON_START: 'false', PURGE_BATCH_SIZE: String(run.P.purgeBatchSize), ...stage.costEnv },
  });
  const child = spawn(process.execPath, ['-r', join(__dirname, '..', 'purge-timer.js'), join(run.appDir, 'dist', 'cli', 'purge-sessions.js')], {
    cwd: run.tmpRoot,
    env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const cli = { out: '', err: '' };
  let onLine;
  child.stdout.on('data', (d) => {
    cli.out += d;
    onLine?.();
  });
  child.stderr.on('data', (d) => (cli.err += d));
  const exited = new Promise((r) => child.on('exit', (code) => r(code)));
  const seen = (marker) =>
    new Promise((resolve, reject) => {
      const test = () => {
        if (cli.out.includes(marker)) resolve();
      };
      onLine = test;
      test();
      exited.then((code) => reject(new Error(`purge CLI exited (${code}) before ${marker}: ${cli.err.trim()}`)));
    });
  return {
    cli,
    exited,
    ready: () => seen('BENCH_PURGE_READY'),
    done: () => seen('BENCH_PURGE_DONE'),
    go: () => {
      child.stdin.write('go\n');
      child.stdin.end();
    },
  };
}

async function purgeRun(run, stage, sc, index) {
  const { P, results } = run;
  const entry = { run: index + 1 };
  log(`purge run ${index + 1}: seeding ${P.ended} ended sessions`);
  await withClient(stage.db.ownerUrl, async (c) => {
    await seed.seedEndedSessions(c, { from: 1, to: P.large.users, count: P.ended });
    await seed.settle(c, ['sessions']);
    entry.before = await seed.counts(c);
  });
  if (index === 0) {
    log('purge: explaining the DELETE inside purge_ended_sessions (7 calls in one session, rolled back)');
    results.purgePlans = await explainPurge({ ownerUrl: stage.db.ownerUrl, retentionSeconds: RETENTION_SECONDS, batchSize: P.purgeBatchSize });
  }
  const alone = await sc.S1.run(P.purgeAlone);
  check(run, `purge run ${index + 1} S1 alone`, alone);
  entry.alone = alone;
  log(`purge run ${index + 1} S1 alone: ${fmt(alone)}`);

  const purge = startPurgeCli(run, stage);
  await purge.ready();
  const done = purge.done();
  const during = sc.S1.run(3600, { stopWhen: done.catch(() => undefined) });
  await sleep(100); // the load is on before the first batch
  purge.go();
  await done;
  entry.during = await during;
  // A tiny purge (quick mode) may finish before a request does.
  check(run, `purge run ${index + 1} S1 during purge`, entry.during, { required: false });
  const code = await purge.exited;
  const { out, err } = purge.cli;
  const m = /BENCH_PURGE_DONE (\{.*\})/.exec(out);
  const timing = m ? JSON.parse(m[1]) : null;
  if (code !== 0 || !timing) run.fail(`purge CLI run ${index + 1}: exit ${code} ${err.trim()}`);
  entry.removed = timing?.removed;
  entry.seconds = timing?.seconds;
  entry.rowsPerSecond = timing ? timing.removed / timing.seconds : NaN;
  entry.cliOutput = out.replace(/BENCH_PURGE_\w+.*\n?/g, '').trim();
  if (timing && timing.removed !== entry.before.ended) {
    run.fail(`purge run ${index + 1}: removed ${timing.removed} of ${entry.before.ended} ended sessions`);
  }
  log(
    `purge run ${index + 1}: ${entry.removed} rows in ${entry.seconds?.toFixed(2)} s = ${Math.round(entry.rowsPerSecond)} rows/s; ` +
      `S1 during: ${entry.during.ok ? fmt(entry.during) : 'no request completed'}`,
  );
  await withClient(stage.db.ownerUrl, async (c) => {
    await seed.settle(c, ['sessions']);
    entry.after = await seed.counts(c);
  });
  results.purge.runs.push(entry);
}

async function purgePhase(run, stage, sc) {
  for (let i = 0; i < run.P.purgeRuns; i++) await purgeRun(run, stage, sc, i);
  const { purge } = run.results;
  const pr = purge.runs;
  purge.rowsPerSecond = summary(pr.map((r) => r.rowsPerSecond));
  purge.aloneP99 = summary(pr.map((r) => r.alone.p99));
  purge.duringP99 = summary(pr.map((r) => r.during.p99));
  purge.p99Ratio = summary(pr.map((r) => r.during.p99 / r.alone.p99));
}

module.exports = { purgePhase };
