'use strict';
// Phase 3: peak memory of the service under S1 at many connections (large size), against a second
// service process with V8's default heap growth, runs alternating.
const { join } = require('node:path');
const { check, fmt } = require('../lib/measure');
const { scenarios } = require('../lib/scenarios');
const { startService, watchMemory } = require('../lib/service');
const { summary, log } = require('../lib/util');

/** One S1 run at `memConns` connections with the service's memory watched: its figures and its load. */
async function memoryRun(run, service, sc, label, i) {
  const w = watchMemory(service.pid);
  const r = await sc.S1mem.run(run.P.duration);
  const m = w.stop();
  check(run, `memory${label} S1@${run.P.memConns} run ${i + 1}`, r);
  log(`memory${label} run ${i + 1}: peak RSS ${(peakOf(m) / 1e6).toFixed(1)} MB (${fmt(r)})`);
  return { ...m, load: r };
}

const peakOf = (m) => Math.max(m.hwm, m.maxRss);

/**
 * The service sets V8's heap growing factor (src/main.ts) and `npm start` caps the young generation
 * (`--max-semi-space-size`); a second process with V8's defaults for both (`--heap-growing-percent=0`
 * and `--max-semi-space-size=0`, after npm start's options, win) shows what those settings buy.
 */
async function memoryPhase(run, stage, floor, large) {
  const { P, results } = run;
  log(`memory: S1 at ${P.memConns} connections (and the same against a service with V8's default heap growth)`);
  const svcDefaultHeap = await startService({
    appDir: run.appDir,
    ownerUrl: stage.db.ownerUrl,
    secrets: stage.secrets,
    logFile: join(run.tmpRoot, 'service-default-heap.log'),
    cwd: run.tmpRoot,
    nodeArgs: [...stage.nodeArgs, '--heap-growing-percent=0', '--max-semi-space-size=0'],
    extraEnv: { ...stage.costEnv, MIGRATE_ON_START: 'false' },
  });
  run.defer(() => svcDefaultHeap.stop());
  const scDefaultHeap = scenarios(P, svcDefaultHeap, floor, large.users);
  if (P.warmup > 0) check(run, 'memory (default heap) warm-up', await scDefaultHeap.S1mem.run(P.warmup), { required: false });
  const mem = [];
  const memDefault = [];
  for (let i = 0; i < P.runs; i++) {
    mem.push(await memoryRun(run, stage.svc, large.sc, '', i));
    memDefault.push(await memoryRun(run, svcDefaultHeap, scDefaultHeap, ' (default heap growth)', i));
  }
  await svcDefaultHeap.stop();
  results.memory.runs = mem;
  results.memory.peak = summary(mem.map(peakOf));
  results.memory.hwmReset = mem.every((m) => m.hwmReset);
  results.memory.cpu = summary(mem.map((m) => m.load.serverCpuMsPerRequest));
  results.memory.defaultHeap = {
    runs: memDefault,
    peak: summary(memDefault.map(peakOf)),
    cpu: summary(memDefault.map((m) => m.load.serverCpuMsPerRequest)),
    rps: summary(memDefault.map((m) => m.load.rps)),
  };
}

module.exports = { memoryPhase, memoryRun, peakOf };
