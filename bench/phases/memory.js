'use strict';
// Phase 3: peak memory of the service under S1 at many connections (large size), against a second
// service process with the young generation capped, a third in a 1 GiB memory cgroup (as in a container
// with that limit, where one can be made) and the stack floor NestJS + MikroORM (as the other phases
// run it, and with the service's heap growing factor), runs alternating.
const { join } = require('node:path');
const { check, fmt } = require('../lib/measure');
const { scenarios } = require('../lib/scenarios');
const { createMemoryCgroup } = require('../lib/cgroup');
const { startService, watchMemory } = require('../lib/service');
const { STACKS } = require('../lib/stacks');
const { summary, log } = require('../lib/util');

/** One S1 run at `memConns` connections with the service's memory watched: its figures and its load. */
async function memoryRun(run, service, sc, label, i, scenario = 'S1mem') {
  const w = watchMemory(service.pid);
  const r = await sc[scenario].run(run.P.duration);
  const m = w.stop();
  check(run, `memory${label} S1@${run.P.memConns} run ${i + 1}`, r);
  log(`memory${label} run ${i + 1}: peak RSS ${(peakOf(m) / 1e6).toFixed(1)} MB (${fmt(r)}, server CPU ${r.serverCpuMsPerRequest.toFixed(3)} ms/request)`);
  return { ...m, load: r };
}

const peakOf = (m) => Math.max(m.hwm, m.maxRss);
/** The young-generation cap the second process runs with. */
const CAP = '--max-semi-space-size=16';
/** The service's heap growing factor (src/main.ts), for the stack floor's second process. */
const GROWING = '--heap-growing-percent=50';
/** The container limit of the third process: V8 sizes its heap from it (README, Operations). */
const CONTAINER = 2 ** 30;

/** Why no process can run in a memory cgroup here (not root, no writable controller), or null. */
function cgroupUnavailable() {
  try {
    createMemoryCgroup('probe', CONTAINER).remove();
    return null;
  } catch (err) {
    return err.message;
  }
}

/**
 * What the stack needs under the same load: NestJS + MikroORM serving the same statements, nothing else
 * (its tokens decoded, not verified). Scenario `G1mem`: the process the other phases measure (V8's
 * defaults); `W1mem`: another process of it with the service's heap growing factor, as the service runs.
 */
async function startStackMemory(run, stage, small, users) {
  const st = STACKS.find((x) => x.letter === 'G');
  const stackW = await small.startStackFloor(st, 'stack-floor-heap-growing', [GROWING]);
  return { st, stackW, scStack: scenarios(run.P, stage.svc, small.floor, users, { G: small.stacks.G, W: stackW }) };
}

/**
 * The service sets V8's heap growing factor (src/main.ts) and leaves the young generation at V8's size
 * for the machine; a second process with the young generation capped (`--max-semi-space-size=16`)
 * shows what memory that buys and what CPU it costs, and the stack floor (startStackMemory) what of
 * it the stack itself needs.
 */
async function memoryPhase(run, stage, small, large) {
  const { P, results } = run;
  const floor = small.floor;
  log(`memory: S1 at ${P.memConns} connections (and the same against a service with the young generation capped, ${CAP}, one in a 1 GiB container where a memory cgroup can be made, and the stack floor NestJS + MikroORM)`);
  const svcCapped = await startService({
    appDir: run.appDir,
    ownerUrl: stage.db.ownerUrl,
    secrets: stage.secrets,
    logFile: join(run.tmpRoot, 'service-capped-young-generation.log'),
    cwd: run.tmpRoot,
    nodeArgs: [...stage.nodeArgs, CAP],
    extraEnv: { ...stage.costEnv, MIGRATE_ON_START: 'false' },
  });
  run.defer(() => svcCapped.stop());
  const scCapped = scenarios(P, svcCapped, floor, large.users);
  if (P.warmup > 0) check(run, 'memory (young generation capped) warm-up', await scCapped.S1mem.run(P.warmup), { required: false });
  const noCgroup = cgroupUnavailable();
  if (noCgroup) log(`memory: no 1 GiB container run (${noCgroup})`);
  const svcContainer = noCgroup
    ? null
    : await startService({
        appDir: run.appDir,
        ownerUrl: stage.db.ownerUrl,
        secrets: stage.secrets,
        logFile: join(run.tmpRoot, 'service-container.log'),
        cwd: run.tmpRoot,
        nodeArgs: stage.nodeArgs,
        extraEnv: { ...stage.costEnv, MIGRATE_ON_START: 'false' },
        memoryLimit: CONTAINER,
      });
  if (svcContainer) run.defer(() => svcContainer.stop());
  const scContainer = svcContainer && scenarios(P, svcContainer, floor, large.users);
  if (scContainer && P.processWarmup > 0) check(run, 'memory (1 GiB container) warm-up', await scContainer.S1mem.run(3 * P.processWarmup), { required: false });
  const { st, stackW, scStack } = await startStackMemory(run, stage, small, large.users);
  if (P.processWarmup > 0) check(run, 'memory (stack floor, heap growing factor) warm-up', await scStack.W1mem.run(3 * P.processWarmup), { required: false });
  if (P.warmup > 0) check(run, 'memory (stack floor) warm-up', await scStack.G1mem.run(P.warmup), { required: false });
  const mem = [];
  const memCapped = [];
  const memContainer = [];
  const memStack = [];
  const memStackW = [];
  for (let i = 0; i < P.runs; i++) {
    mem.push(await memoryRun(run, stage.svc, large.sc, '', i));
    memCapped.push(await memoryRun(run, svcCapped, scCapped, ' (young generation capped)', i));
    if (scContainer) memContainer.push(await memoryRun(run, svcContainer, scContainer, ' (1 GiB container)', i));
    memStack.push(await memoryRun(run, small.stacks.G, scStack, ` (stack floor ${st.label})`, i, 'G1mem'));
    memStackW.push(await memoryRun(run, stackW, scStack, ` (stack floor ${st.label}, ${GROWING})`, i, 'W1mem'));
  }
  await svcCapped.stop();
  await svcContainer?.stop();
  await stackW.stop();
  results.memory.runs = mem;
  results.memory.peak = summary(mem.map(peakOf));
  results.memory.hwmReset = mem.every((m) => m.hwmReset);
  results.memory.cpu = summary(mem.map((m) => m.load.serverCpuMsPerRequest));
  results.memory.capped = {
    flag: CAP,
    runs: memCapped,
    peak: summary(memCapped.map(peakOf)),
    cpu: summary(memCapped.map((m) => m.load.serverCpuMsPerRequest)),
    rps: summary(memCapped.map((m) => m.load.rps)),
  };
  results.memory.container = svcContainer
    ? {
        limitBytes: CONTAINER,
        runs: memContainer,
        peak: summary(memContainer.map(peakOf)),
        cpu: summary(memContainer.map((m) => m.load.serverCpuMsPerRequest)),
        rps: summary(memContainer.map((m) => m.load.rps)),
      }
    : { skipped: noCgroup };
  const stackFigures = (runs) => ({
    runs,
    peak: summary(runs.map(peakOf)),
    cpu: summary(runs.map((m) => m.load.serverCpuMsPerRequest)),
    rps: summary(runs.map((m) => m.load.rps)),
  });
  results.memory.stack = { label: st.label, ...stackFigures(memStack), growing: { flag: GROWING, ...stackFigures(memStackW) } };
}

module.exports = { memoryPhase, memoryRun, peakOf, startStackMemory };
