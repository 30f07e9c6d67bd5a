'use strict';
// BENCH_ONLY: a development loop. The chosen scenarios at the small size against their floor and the
// stack floors (`scale`: again at the large size; `mem`: the memory run); figures on stderr and in
// bench/results/only-*.json, never a report.
const { existsSync } = require('node:fs');
const { join, resolve } = require('node:path');
const { check, measure, warmUpProcesses } = require('../lib/measure');
const { scenarios } = require('../lib/scenarios');
const { startService } = require('../lib/service');
const { parseBytes } = require('../lib/cgroup');
const { STACKS } = require('../lib/stacks');
const { log } = require('../lib/util');
const { seedLarge, signInLargeUsers } = require('./large');
const { memoryRun, peakOf, startStackMemory } = require('./memory');

const PAIRS = { S1: 'F1', S2: 'F2', S4: 'F4' };

/**
 * BENCH_AB=<another checkout, built>: that checkout's service too, on the same database with the same
 * secrets and users, its runs alternating with this one's (scenario `B1`, `B2`, `B4`): an A/B of two
 * builds under the same conditions.
 */
async function startOtherBuild(run, stage, small) {
  const dir = process.env.BENCH_AB && resolve(process.env.BENCH_AB);
  if (!dir) return {};
  if (!existsSync(join(dir, 'dist', 'main.js'))) throw new Error(`BENCH_AB: ${dir}/dist/main.js is missing (build that checkout first)`);
  const svc = await startService({
    appDir: dir,
    ownerUrl: stage.db.ownerUrl,
    secrets: stage.secrets,
    logFile: join(run.tmpRoot, 'service-ab.log'),
    cwd: run.tmpRoot,
    nodeArgs: [...stage.nodeArgs, ...(process.env.BENCH_AB_NODE_ARGS ?? '').split(/\s+/).filter(Boolean)],
    extraEnv: { ...stage.costEnv, MIGRATE_ON_START: 'false' },
  });
  run.defer(() => svc.stop());
  log(`BENCH_AB: ${dir} as B1, B2, B4`);
  const sc = scenarios(run.P, svc, small.floor, small.users);
  return { B1: sc.S1, B2: sc.S2, B4: sc.S4 };
}

async function measureOnly(run, stage, small) {
  const { P, results, only } = run;
  const other = await startOtherBuild(run, stage, small);
  const sc = { ...small.sc, ...other };
  const chosen = [...only].filter((name) => PAIRS[name]);
  await warmUpProcesses(run, sc, chosen.flatMap((name) => {
    const n = name.slice(1);
    return [name, PAIRS[name], ...STACKS.map((st) => `${st.letter}${n}`), ...(other[`B${n}`] ? [`B${n}`] : [])];
  }));
  for (const name of only) {
    if (name === 'mem' || name === 'scale') continue;
    if (!PAIRS[name]) throw new Error(`BENCH_ONLY: unknown scenario ${name} (S1, S2, S4, mem, scale)`);
    const n = name.slice(1);
    const ab = other[`B${n}`] ? [`B${n}`] : [];
    const e = (results.pairs[name] = await measure(run, 'only', sc, name, PAIRS[name], { also: [...STACKS.map((st) => `${st.letter}${n}`), ...ab] }));
    const g = e.also[`G${n}`];
    const stackText = (key) => STACKS.map((st) => `${st.label} ${key(e.also[`${st.letter}${n}`])}`).join(', ');
    const abText = ab.length ? `; BENCH_AB build: ${e.also[ab[0]].rps.median.toFixed(1)} req/s, server CPU ms/request ${e.also[ab[0]].cpu.median.toFixed(3)}` : '';
    log(
      `${name}: ${e.rps.median.toFixed(1)} req/s = ${e.ratio.median.toFixed(2)}× of floor (${e.floorRps.median.toFixed(1)}); ` +
        `stack floors ${stackText((x) => `${x.ratio.median.toFixed(2)}×`)}; service = ${g.serviceTo.median.toFixed(2)}× of ${STACKS[0].label}; ` +
        `server CPU ms/request: service ${e.cpu.median.toFixed(3)}, floor ${e.floorCpu.median.toFixed(3)}, ${stackText((x) => x.cpu.median.toFixed(3))}${abText}`,
    );
  }
  if (only.has('scale')) {
    // The chosen scenarios again at the large size (p50 ratios large / small), against the floor only.
    await seedLarge(run, stage.db, small.pw);
    const users = await signInLargeUsers(run, stage.svc, P.conns);
    const sc = scenarios(P, stage.svc, small.floor, users);
    for (const name of only) {
      if (!PAIRS[name]) continue;
      const e = (results.pairs[`${name}large`] = await measure(run, 'only large', sc, name, PAIRS[name]));
      const s = results.pairs[name];
      log(
        `${name} at the large size: p50 ${e.p50.median.toFixed(2)} ms = ${(e.p50.median / s.p50.median).toFixed(2)}× of the small size's; ` +
          `floor ${(e.floorP50.median / s.floorP50.median).toFixed(2)}×; ${e.rps.median.toFixed(1)} req/s`,
      );
    }
  }
  if (only.has('mem')) await memoryOnly(run, stage, small);
  run.finish();
  await run.writeRaw('only');
  await run.keepLogs();
}

/**
 * BENCH_ONLY=mem: the memory run at the small size. BENCH_MEM_VARIANTS="<node options>;<node options>":
 * one more service process per variant (env assignments such as MALLOC_ARENA_MAX=2 among the options
 * go to its environment; `container=1G` runs it in a memory cgroup of that size, as a container with
 * that limit would), its runs alternating with the service's: what a flag or a container buys and costs.
 */
async function memoryOnly(run, stage, small) {
  const { P, results } = run;
  const variants = [{ label: '', sc: small.sc, svc: stage.svc }];
  // BENCH_MEM_STACK=1: the stack floor NestJS + MikroORM under the same load (as the memory phase runs it:
  // V8's defaults, and with the service's heap growing factor): what the stack itself needs.
  if (process.env.BENCH_MEM_STACK) {
    const { st, stackW, scStack } = await startStackMemory(run, stage, small, small.users);
    variants.push({ label: ` [stack floor ${st.label}]`, sc: scStack, svc: small.stacks.G, scenario: 'G1mem' });
    variants.push({ label: ` [stack floor ${st.label}, heap growing factor]`, sc: scStack, svc: stackW, scenario: 'W1mem' });
  }
  for (const spec of (process.env.BENCH_MEM_VARIANTS ?? '').split(';').map((x) => x.trim()).filter(Boolean)) {
    const words = spec.split(/\s+/);
    const container = words.find((w) => w.startsWith('container='));
    const env = Object.fromEntries(words.filter((w) => /^[A-Z_]+=/.test(w)).map((w) => w.split(/=(.*)/s).slice(0, 2)));
    const svc = await startService({
      appDir: run.appDir,
      ownerUrl: stage.db.ownerUrl,
      secrets: stage.secrets,
      logFile: join(run.tmpRoot, `service-variant-${variants.length}.log`),
      cwd: run.tmpRoot,
      nodeArgs: [...stage.nodeArgs, ...words.filter((w) => !/^[A-Z_]+=/.test(w) && w !== container)],
      extraEnv: { ...stage.costEnv, ...env, MIGRATE_ON_START: 'false' },
      memoryLimit: container ? parseBytes(container.slice('container='.length)) : undefined,
    });
    run.defer(() => svc.stop());
    variants.push({ label: ` [${spec}]`, sc: scenarios(P, svc, small.floor, small.users), svc });
  }
  // Newly started processes: the memory runs follow a warm-up as long as the full run's process warm-up.
  for (const v of variants) if (P.processWarmup > 0) check(run, `memory warm-up${v.label}`, await v.sc[v.scenario ?? 'S1mem'].run(3 * P.processWarmup), { required: false });
  const peaks = variants.map(() => []);
  for (let i = 0; i < P.runs; i++) {
    for (const [k, v] of variants.entries()) peaks[k].push(peakOf(await memoryRun(run, v.svc, v.sc, v.label, i, v.scenario)));
  }
  results.memory.peaks = peaks[0];
  results.memory.variants = variants.slice(1).map((v, k) => ({ label: v.label.trim(), peaks: peaks[k + 1] }));
}

module.exports = { measureOnly };
