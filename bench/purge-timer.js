'use strict';
// Preloaded into `npm run sessions:purge`'s CLI (node -r bench/purge-timer.js dist/cli/purge-sessions.js)
// to time SessionsPurgeService.purge() itself, without the process's start-up. When the CLI is
// about to purge it prints BENCH_PURGE_READY and waits for a line on stdin (the bench starts its
// load first), then prints BENCH_PURGE_DONE {"removed": n, "seconds": s}.
require('reflect-metadata'); // before any decorated class is loaded, as the CLI does
const { resolve } = require('node:path');
// The bench runs a snapshot of the build (BENCH_APP_DIR); the same module instance the CLI loads.
const appDir = process.env.BENCH_APP_DIR || resolve(__dirname, '..');
const { SessionsPurgeService } = require(resolve(appDir, 'dist', 'sessions', 'sessions-purge.service.js'));

const waitForGo = () =>
  new Promise((go) => {
    process.stdin.once('data', () => {
      process.stdin.pause();
      go();
    });
  });

const purge = SessionsPurgeService.prototype.purge;
SessionsPurgeService.prototype.purge = async function timedPurge() {
  process.stdout.write('BENCH_PURGE_READY\n');
  await waitForGo();
  const started = process.hrtime.bigint();
  const removed = await purge.call(this);
  process.stdout.write(`BENCH_PURGE_DONE ${JSON.stringify({ removed, seconds: Number(process.hrtime.bigint() - started) / 1e9 })}\n`);
  return removed;
};
