'use strict';
// Phase 3: peak memory of the service under S1 at many connections (large size), against a second
// service process with the young generation capped, runs alternating.
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
  log(`memory${label} run ${i + 1}: peak RSS ${(peakOf(m) / 1e6).toFixed(1)} MB (${fmt(r)}, server CPU ${r.serverCpuMsPerRequest.toFixed(3)} ms/request)`);
  return { ...m, load: r };
}

const peakOf = (m) => Math.max(m.hwm, m.maxRss);
/** The young-generation cap the second process runs with. */
const CAP = '--max-semi-space-size=16';

/**
 * The service sets V8's heap growing factor (src/main.ts) and leaves the young generation at V8's size
 * for the machine; a second process with the young generation capped (`--max-semi-space-size=16`)
 * shows what memory that buys and what CPU it costs.
 */
async function memoryPhase(run, stage, floor, large) {
  const { P, results } = run;
  log(`memory: S1 at ${P.memConns} connections (and the same against a service with the young generation capped, ${CAP})`);
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
  const mem = [];
  const memCapped = [];
  for (let i = 0; i < P.runs; i++) {
    mem.push(await memoryRun(run, stage.svc, large.sc, '', i));
    memCapped.push(await memoryRun(run, svcCapped, scCapped, ' (young generation capped)', i));
  }
  await svcCapped.stop();
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
}

module.exports = { memoryPhase, memoryRun, peakOf };
