'use strict';
// The state of one bench run, handed to every phase: its parameters, the results it accumulates (the
// report's input: each phase fills in its part), its temporary folder, and what to stop or remove
// when the run ends.
const { mkdir, open, readdir, writeFile } = require('node:fs/promises');
const { join } = require('node:path');
const { POOL_MAX } = require('./params');
const { log } = require('./util');

class BenchRun {
  /** `P`: the run's parameters (lib/params.js); `only`: BENCH_ONLY's scenarios, or null. */
  constructor(P, { only = null, root }) {
    this.P = P;
    this.only = only;
    this.quick = P.mode === 'quick';
    /** bench/results: raw results, profiles, kept logs, the quick run's report. */
    this.resultsDir = join(root, 'bench', 'results');
    /** Set by the setup phase: the run's temporary folder and its copy of the build. */
    this.tmpRoot = null;
    this.appDir = null;
    this.cleanups = [];
    this.results = {
      mode: P.mode,
      params: P,
      bcryptCost: P.bcryptCost,
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
  }

  /** Records a problem: the run goes on, then fails. */
  fail(message) {
    this.results.failures.push(message);
  }

  /** Runs `fn` when the run ends — before what was registered earlier (processes before the database before the folder). */
  defer(fn) {
    this.cleanups.unshift(fn);
  }

  async cleanup() {
    for (const fn of this.cleanups.splice(0)) {
      try {
        await fn();
      } catch (err) {
        log(`cleanup: ${err.message}`);
      }
    }
  }

  get stamp() {
    return this.results.startedAt.replace(/[:.]/g, '-');
  }

  /** Stamps the end of the run. */
  finish() {
    this.results.finishedAt = new Date().toISOString();
    this.results.elapsedSeconds = (Date.parse(this.results.finishedAt) - Date.parse(this.results.startedAt)) / 1000;
  }

  /** Writes the raw results as `<prefix>-<start time>.json` in bench/results. */
  writeRaw(prefix) {
    return writeFile(join(this.resultsDir, `${prefix}-${this.stamp}.json`), JSON.stringify(this.results, null, 2));
  }

  /** On failure, keeps the service's, the floors' and the database's logs (bench/results/logs-<time>/). */
  async keepLogs() {
    if (!this.tmpRoot) return;
    const dest = join(this.resultsDir, `logs-${this.stamp}`);
    try {
      const files = (await readdir(this.tmpRoot)).filter((f) => f.endsWith('.log'));
      if (!files.length) return;
      await mkdir(dest, { recursive: true });
      for (const f of files) {
        // The last 2 MB of each (the service logs a line per request).
        const fh = await open(join(this.tmpRoot, f), 'r');
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
}

module.exports = { BenchRun };
