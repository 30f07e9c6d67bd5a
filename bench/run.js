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
//   BENCH_RATE=300      a fixed overall request rate (requests/s) instead of saturating the server: in the
//                        development loop, CPU per request and profiles then show the work, not the contention
//   BENCH_AB=../other   with BENCH_ONLY: also measure that checkout's built service (same database, users
//                        and secrets), its runs alternating with this one's: an A/B of two builds
//   BENCH_AB_NODE_ARGS   extra node options for the BENCH_AB build only (BENCH_AB=. and a flag: an A/B
//                        of one build with and without it)
//   BENCH_NODE_ARGS      extra node options for the service process (experiments: V8 heap flags...)
//   BENCH_ONLY=S1,S2,S4,scale,mem   a development loop: only these scenarios at the small size, each
//                        paired with its floor and the stack floors (and with `scale` again at the
//                        large size; `mem` the memory run); prints the figures and writes
//                        bench/results/only-*.json, never RESULTS.md
//   BENCH_MEM_VARIANTS="<node options>;<node options>"   with BENCH_ONLY=mem: one more service process
//                        per variant (NAME=value words go to its environment), memory runs alternating
//   BENCH_MEM_STACK=1    with BENCH_ONLY=mem: the stack floor NestJS + MikroORM too (as measured, and with
//                        the service's heap growing factor), as the full run's memory phase does
//
// The parameters are in lib/params.js, one module per phase in phases/ (in the order below), the
// report's sections in lib/report.js.
const os = require('node:os');
const { join } = require('node:path');
const { BenchRun } = require('./lib/bench-run');
const { runParams, onlyScenarios } = require('./lib/params');
const { writeReport } = require('./lib/report');
const { ROOT } = require('./lib/service');
const { log } = require('./lib/util');
const { setup } = require('./phases/setup');
const { startSmall, measureSmall } = require('./phases/small');
const { measureOnly } = require('./phases/only');
const { largePhase } = require('./phases/large');
const { memoryPhase } = require('./phases/memory');
const { plansPhase } = require('./phases/plans');
const { warnPhase } = require('./phases/warn');
const { purgePhase } = require('./phases/purge');

async function main(run) {
  const stage = await setup(run);
  const small = await startSmall(run, stage);
  if (run.only) return measureOnly(run, stage, small);
  await measureSmall(run, small.sc);
  const large = await largePhase(run, stage, small);
  await memoryPhase(run, stage, small, large);
  await plansPhase(run, stage, large);
  await warnPhase(run, stage, small.floor, large);
  await purgePhase(run, stage, large.sc);

  run.results.machine.loadavgEnd = os.loadavg();
  run.finish();
  await run.writeRaw(run.P.mode);
  const reportPath = run.quick ? join(run.resultsDir, 'RESULTS-quick.md') : join(ROOT, 'bench', 'RESULTS.md');
  await writeReport(run.results, reportPath);
  log(`report written to ${reportPath}`);
}

// A report compares saturated throughputs; a fixed rate would make every ratio 1.
if (process.env.BENCH_RATE && !onlyScenarios()) throw new Error('BENCH_RATE is for the BENCH_ONLY development loop, not for a report');
const run = new BenchRun(runParams(process.argv.includes('--quick')), { only: onlyScenarios(), root: ROOT });

let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    if (interrupted) return;
    interrupted = true;
    log(`${signal}: stopping`);
    run.cleanup().finally(() => process.exit(130));
  });
}

main(run)
  .then(async () => {
    const { failures } = run.results;
    if (failures.length) await run.keepLogs();
    await run.cleanup();
    if (failures.length) {
      log(`FAILED: ${failures.length} problem(s):\n  - ${failures.join('\n  - ')}`);
      process.exit(1);
    }
    log(`${run.P.mode} run passed in ${Math.round(run.results.elapsedSeconds)} s: every scenario completed with zero non-2xx responses and no errors`);
    process.exit(0);
  })
  .catch(async (err) => {
    log(`ERROR: ${err.stack || err}`);
    await run.keepLogs();
    await run.cleanup();
    process.exit(1);
  });
