'use strict';
// CPU per request line, three ways of writing it to a file (node bench/log-lines.js, after npm run build):
//   pino, sonic-boom buffering  - what the service did before: a pino logger on sonic-boom with
//                                 `minLength: 4096` (asynchronous writes through libuv's thread pool);
//   pino, BatchedLines          - a pino logger on the service's BatchedLines (4 KiB batches, one
//                                 synchronous write each);
//   requestLineWriter, BatchedLines - what the service does now: the request line written by hand.
// Each writes LINES request lines in bursts of 50 (one event-loop turn each), after a warm-up, and
// reports process CPU (user + system, every thread) per line. Ratios within one run are what count.
const { mkdtempSync, rmSync, statSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const { destination, pino } = require('pino');
const { BatchedLines } = require('../dist/logging/batched-lines');
const { requestLineWriter } = require('../dist/logging/logging.module');

const LINES = Number(process.env.LINES || 100_000);
const WARMUP = 10_000;
const BURST = 50;

const line = {
  reqId: 'c44d8e6d-deff-449d-a144-bac4cd30df83',
  req: { id: 'c44d8e6d-deff-449d-a144-bac4cd30df83', method: 'GET' },
  ip: '127.0.0.1',
  res: { statusCode: 200 },
  route: '/sessions',
  durationMs: 2.4,
};

function run(name, make) {
  return new Promise((resolve) => {
    const dir = mkdtempSync(join(tmpdir(), 'nra-log-lines-'));
    const file = join(dir, 'out.log');
    const { write, flush } = make(file);
    let n = 0;
    let start;
    const turn = () => {
      for (let i = 0; i < BURST; i++) write();
      n += BURST;
      if (n === WARMUP) start = process.cpuUsage();
      if (n < WARMUP + LINES) return setImmediate(turn);
      const used = process.cpuUsage(start);
      flush();
      setTimeout(() => {
        const bytes = statSync(file).size;
        rmSync(dir, { recursive: true, force: true });
        const perLine = (used.user + used.system) / LINES;
        console.log(`${name.padEnd(34)} ${perLine.toFixed(2)} µs CPU per line (${(bytes / 1e6).toFixed(1)} MB written)`);
        resolve(perLine);
      }, 300);
    };
    turn();
  });
}

async function main() {
  console.log(`${LINES} request lines each, in bursts of ${BURST}, Node ${process.version}`);
  const results = {};
  for (let round = 0; round < 2; round++) {
    results.old = await run('pino, sonic-boom buffering', (file) => {
      const out = destination({ dest: file, sync: false, minLength: 4096, periodicFlush: 250 });
      const log = pino({ level: 'info' }, out);
      return { write: () => log.info(line, 'GET /sessions 200 2ms'), flush: () => out.flushSync() };
    });
    results.batched = await run('pino, BatchedLines', (file) => {
      const out = new BatchedLines(destination({ dest: file, sync: true }));
      const log = pino({ level: 'info' }, out);
      return { write: () => log.info(line, 'GET /sessions 200 2ms'), flush: () => out.close() };
    });
    results.now = await run('requestLineWriter, BatchedLines', (file) => {
      const out = new BatchedLines(destination({ dest: file, sync: true }));
      const write = requestLineWriter('info', out);
      return { write: () => write(30, line, 'GET /sessions 200 2ms'), flush: () => out.close() };
    });
  }
  console.log(`last round: now ÷ before = ${(results.now / results.old).toFixed(2)}`);
}

main();
