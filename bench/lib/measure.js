'use strict';
// Measured runs: a scenario alternating with its floor (and the stack floors), and the checks every
// run must pass.
const { summary, log } = require('./util');

/**
 * Records a failure for any non-2xx response, connection error or timeout; and for a measured run
 * that completed no request at all. A warm-up, a bcrypt floor run or the S1 run during a tiny purge
 * may legitimately complete nothing in its window (a cost-12 compare can outlast a 3 s warm-up on a
 * busy machine): `required: false`.
 */
function check(run, label, r, { required = true } = {}) {
  const bad = r.non2xx || r.errors || r.timeouts;
  const empty = !(r.ok > 0);
  if (bad || (empty && required)) {
    const msg = `${label}: ${r.ok} ok, ${r.non2xx} non-2xx ${JSON.stringify(r.statusCodes)}, ${r.errors} errors, ${r.timeouts} timeouts`;
    run.fail(msg);
    log(`FAILED ${msg}`);
  }
}

const fmt = (r) => `${r.rps.toFixed(1)} req/s, p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms${r.non2xx ? `, ${r.non2xx} non-2xx` : ''}`;

/**
 * Warm-up, then `runs` measured runs, alternating the scenario, its floor (if any) and any `also`
 * (the stack floors: entry.also[name] with the same figures and their ratios to the floor).
 */
async function measure(run, key, sc, name, floorName, { duration = run.P.duration, warmup = run.P.warmup, also = [] } = {}) {
  const entry = { scenario: name, floor: floorName, runs: [], floorRuns: [], also: {} };
  for (const a of also) entry.also[a] = { runs: [] };
  const floorRequired = floorName !== 'B3';
  if (warmup > 0) {
    check(run, `${key} ${name} warm-up`, await sc[name].run(warmup), { required: false });
    if (floorName) check(run, `${key} ${floorName} warm-up`, await sc[floorName].run(warmup), { required: false });
    for (const a of also) check(run, `${key} ${a} warm-up`, await sc[a].run(warmup), { required: false });
  }
  for (let i = 0; i < run.P.runs; i++) {
    const r = await sc[name].run(duration);
    check(run, `${key} ${name} run ${i + 1}`, r);
    entry.runs.push(r);
    log(`${key} ${name} run ${i + 1}: ${fmt(r)}`);
    if (floorName) {
      const f = await sc[floorName].run(duration);
      check(run, `${key} ${floorName} run ${i + 1}`, f, { required: floorRequired });
      entry.floorRuns.push(f);
      log(`${key} ${floorName} run ${i + 1}: ${fmt(f)}`);
    }
    for (const a of also) {
      const g = await sc[a].run(duration);
      check(run, `${key} ${a} run ${i + 1}`, g);
      entry.also[a].runs.push(g);
      log(`${key} ${a} run ${i + 1}: ${fmt(g)}`);
    }
  }
  summarise(entry);
  return entry;
}

/**
 * Before the first measured scenario: every process under test serves each of `names` (scenario
 * keys, e.g. S1, F1, G1, …) for `P.processWarmup` seconds, in turn. A freshly started process needs
 * longer than a scenario's own warm-up to reach its steady state (optimised code, V8's young
 * generation grown to the size it settles at): without this, the first two runs of S1 — the first
 * scenario — cost the service 1.2–1.5× the server CPU per request of its later runs, and the stack
 * floor up to 1.4× (two BENCH_ONLY runs and a full run on 2026-12-01), so whichever process warmed
 * more slowly lost S1's comparison. All processes get the same warm-up.
 */
async function warmUpProcesses(run, sc, names) {
  const seconds = run.P.processWarmup;
  if (!(seconds > 0)) return;
  log(`process warm-up: ${names.join(', ')}, ${seconds} s each`);
  for (const name of names) check(run, `process warm-up ${name}`, await sc[name].run(seconds), { required: false });
}

/** The medians (min–max) of an entry's runs, and its ratios to the floor; ratios are of the medians. */
function summarise(entry) {
  entry.rps = summary(entry.runs.map((r) => r.rps));
  entry.p50 = summary(entry.runs.map((r) => r.p50));
  entry.p99 = summary(entry.runs.map((r) => r.p99));
  entry.cpu = summary(entry.runs.map((r) => r.serverCpuMsPerRequest));
  entry.loadCpu = summary(entry.runs.map((r) => r.loadCpuMsPerRequest));
  if (entry.floor) {
    entry.floorCpu = summary(entry.floorRuns.map((r) => r.serverCpuMsPerRequest));
    entry.floorRps = summary(entry.floorRuns.map((r) => r.rps));
    entry.floorP50 = summary(entry.floorRuns.map((r) => r.p50));
    entry.floorP99 = summary(entry.floorRuns.map((r) => r.p99));
    entry.ratio = summary(entry.runs.map((r, i) => r.rps / entry.floorRuns[i].rps));
    entry.ratio.median = entry.rps.median / entry.floorRps.median; // ratio of the medians
  }
  for (const x of Object.values(entry.also)) {
    x.rps = summary(x.runs.map((r) => r.rps));
    x.p50 = summary(x.runs.map((r) => r.p50));
    x.p99 = summary(x.runs.map((r) => r.p99));
    x.cpu = summary(x.runs.map((r) => r.serverCpuMsPerRequest));
    x.ratio = summary(x.runs.map((r, i) => r.rps / entry.floorRuns[i].rps)); // to the floor
    x.ratio.median = x.rps.median / entry.floorRps.median;
    x.serviceTo = summary(entry.runs.map((r, i) => r.rps / x.runs[i].rps)); // the service's, to this one
    x.serviceTo.median = entry.rps.median / x.rps.median;
  }
}

module.exports = { check, fmt, measure, warmUpProcesses };
