'use strict';
// The bench's parameters: sizes, durations and connections of the quick and the full run (the
// BENCH_* variables override a few, see bench/run.js), and the fixed settings the phases share.

const envNum = (env, name, fallback) => (env[name] ? Number(env[name]) : fallback);

/** The sizes and durations of a run: `quick` proves the harness in seconds, the full run measures. */
function runParams(quick, env = process.env) {
  return quick
    ? {
        mode: 'quick',
        runs: envNum(env, 'BENCH_RUNS', 1),
        duration: envNum(env, 'BENCH_DURATION', 0.3),
        warmup: 0,
        processWarmup: 0.2, // exercises the process warm-up's path
        s3Duration: 0.5,
        s3Warmup: 0,
        bcryptCost: 4, // quick runs prove the harness, not bcrypt: the cheapest cost keeps them in seconds
        conns: envNum(env, 'BENCH_CONNECTIONS', 4),
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
        // Five short runs rather than three long ones, alternating with the floors: the machine's other
        // load comes in bursts of seconds to minutes, and a median of five pairs taken closer together
        // moves less with one burst (the same measured time in all).
        runs: envNum(env, 'BENCH_RUNS', 5),
        duration: envNum(env, 'BENCH_DURATION', 6),
        warmup: 3,
        // Once per process before the first scenario (measure.js, warmUpProcesses): S1, S2 and S4.
        processWarmup: 5,
        s3Duration: 15,
        s3Warmup: 3,
        bcryptCost: 12, // the service's default BCRYPT_COST, used for S3 and its floor
        conns: envNum(env, 'BENCH_CONNECTIONS', 32),
        s3Conns: 8,
        memConns: 100,
        small: { users: 100, perUser: 10 },
        large: { users: 100_000, perUser: 10 },
        ended: 1_000_000,
        purgeRuns: 3,
        purgeAlone: 10,
        purgeBatchSize: 5_000, // the service's default PURGE_BATCH_SIZE
      };
}

/** BENCH_ONLY=S1,S2,S4,scale,mem: the development loop's scenarios, or null for a whole run. */
function onlyScenarios(env = process.env) {
  return env.BENCH_ONLY ? new Set(env.BENCH_ONLY.split(',').map((x) => x.trim())) : null;
}

/** Extra node options for the processes under test: BENCH_CPU_PROF=1 (profiles in `profileDir`), BENCH_NODE_ARGS (the service only). */
const cpuProfileArgs = (profileDir, env = process.env) => (env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []);
const extraNodeArgs = (env = process.env) => (env.BENCH_NODE_ARGS ? env.BENCH_NODE_ARGS.split(/\s+/).filter(Boolean) : []);

module.exports = {
  runParams,
  onlyScenarios,
  cpuProfileArgs,
  extraNodeArgs,
  SEED_COST: 4, // seeded users' stored hashes: bcrypt.compare works at any stored cost
  BENCH_PASSWORD: 'bench-password-seeded-users',
  /**
   * The User-Agent of every sign-in and refresh the bench sends. One client, one User-Agent: a refresh
   * cut off at the end of a run may reach the server after the re-sync of its chain (lib/client.js)
   * replayed the same token, and the service rightly takes a grace replay from another (or no)
   * User-Agent for reuse and revokes the session.
   */
  BENCH_USER_AGENT: 'nra-bench',
  S3_EMAIL: 'bench-s3@bench.test',
  S3_PASSWORD: 'bench-s3-password-correct-horse',
  RETENTION_SECONDS: 30 * 86_400, // the service's default SESSION_RETENTION
  POOL_MAX: 10, // the service's default DATABASE_POOL_MAX, also the floor's pool
};
