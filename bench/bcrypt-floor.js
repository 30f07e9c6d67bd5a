'use strict';
// S3's floor: the throughput of bcrypt.compare alone, at the service's cost, on the same cores,
// with as many compares in flight as S3 has connections (libuv's default thread pool, like the
// service). Prints one JSON line: { rps, p50, p99, ops, seconds }.
//   node bench/bcrypt-floor.js <cost> <concurrency> <durationSeconds> [warmupSeconds]
const bcrypt = require('bcrypt');

const percentile = (values, p) => {
  const sorted = Float64Array.from(values).sort();
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] : NaN;
};

async function drive(hash, password, concurrency, seconds) {
  // Like autocannon: only compares that finish within the duration count; the ones still running
  // at the deadline are awaited (they cannot be cancelled) but not counted.
  const latencies = [];
  const started = process.hrtime.bigint();
  const deadline = started + BigInt(Math.round(seconds * 1e9));
  const worker = async () => {
    while (process.hrtime.bigint() < deadline) {
      const t = process.hrtime.bigint();
      if (!(await bcrypt.compare(password, hash))) throw new Error('bcrypt.compare returned false');
      const end = process.hrtime.bigint();
      if (end <= deadline) latencies.push(Number(end - t) / 1e6);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { rps: latencies.length / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99), ops: latencies.length, seconds };
}

(async () => {
  const [cost, concurrency, duration, warmup = '0'] = process.argv.slice(2).map(Number);
  const password = 'bench-s3-password-correct-horse';
  const hash = await bcrypt.hash(password, cost);
  if (warmup > 0) await drive(hash, password, concurrency, warmup);
  const result = await drive(hash, password, concurrency, duration);
  process.stdout.write(`${JSON.stringify(result)}\n`);
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
