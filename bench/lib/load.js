'use strict';
// Drives a server with autocannon (programmatic, in this process) and measures requests/s and
// exact latency percentiles (autocannon's own histogram has 1 ms resolution; we keep every 2xx
// response time instead).
const { readFileSync } = require('node:fs');
const autocannon = require('autocannon');
const { percentile } = require('./util');

const TICKS_PER_SECOND = 100; // USER_HZ: /proc/<pid>/stat counts CPU time in 1/100 s on Linux

/** CPU time (user + system) of a process in ms, from /proc/<pid>/stat; NaN if unavailable. */
function processCpuMs(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND; // utime, stime
  } catch {
    return NaN;
  }
}

/**
 * A request whose connection keeps its own state. autocannon deep-clones the options once per
 * connection, so `state` is per connection; `setupRequest` gets a shallow copy of the request (same
 * `state`) and `onResponse` runs with `this` = the connection's request object.
 * `assign()` hands each new connection its item (a user, a refresh-token chain...).
 */
function perConnection({ method, path, headers = {}, assign, build, onResponse }) {
  return {
    method,
    path,
    headers,
    state: {},
    setupRequest(req) {
      const s = req.state;
      if (!s.item) s.item = assign();
      return build(req, s.item);
    },
    onResponse(status, body) {
      if (onResponse) onResponse(status, body, this.state.item);
    },
  };
}

/** Hands out items round-robin; with `exclusive`, refuses to hand out one item twice. */
function dealer(items, { exclusive = false } = {}) {
  let next = 0;
  return () => {
    if (exclusive && next >= items.length) throw new Error(`only ${items.length} exclusive items for more connections`);
    return items[next++ % items.length];
  };
}

/**
 * BENCH_RATE (development loop): a fixed overall request rate instead of saturation. Below
 * saturation the processes are rarely preempted, so CPU per request (and a CPU profile) reflects the
 * work done, not the contention: A/B differences of a few tens of µs show. Reports never use it.
 */
function fixedRate(env = process.env) {
  const rate = Number(env.BENCH_RATE);
  return Number.isFinite(rate) && rate > 0 ? rate : undefined;
}

/**
 * Runs one load test. Returns { rps, p50, p99, mean, ok, non2xx, errors, timeouts, statusCodes,
 * seconds, serverCpuMsPerRequest, loadCpuMsPerRequest }. `pid`: the server process whose CPU time
 * per request is measured. `stopWhen` (a promise) ends the run early (e.g. when a purge finishes).
 */
function runLoad({ url, connections, duration, requests, timeout = 10, stopWhen, pid }) {
  return new Promise((resolve, reject) => {
    const latencies = [];
    const statusCodes = {};
    let non2xx = 0;
    const serverCpu0 = pid ? processCpuMs(pid) : NaN;
    const loadCpu0 = process.cpuUsage();
    const started = process.hrtime.bigint();
    const instance = autocannon(
      { url, connections, duration, requests, timeout, pipelining: 1, overallRate: fixedRate() },
      (err, result) => {
        if (err) return reject(err);
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        const ok = latencies.length;
        const loadCpu = process.cpuUsage(loadCpu0);
        const all = ok + non2xx;
        resolve({
          rps: ok / seconds,
          p50: percentile(latencies, 50),
          p99: percentile(latencies, 99),
          mean: latencies.reduce((a, b) => a + b, 0) / (ok || 1),
          ok,
          non2xx,
          // autocannon counts timeouts among its errors; report them apart.
          errors: Math.max(0, (result.errors || 0) - (result.timeouts || 0)),
          timeouts: result.timeouts || 0,
          statusCodes,
          seconds,
          serverCpuMsPerRequest: pid ? (processCpuMs(pid) - serverCpu0) / (all || 1) : NaN,
          loadCpuMsPerRequest: (loadCpu.user + loadCpu.system) / 1000 / (all || 1),
        });
      },
    );
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      statusCodes[statusCode] = (statusCodes[statusCode] || 0) + 1;
      if (statusCode >= 200 && statusCode < 300) latencies.push(responseTime);
      else non2xx++;
    });
    if (stopWhen) stopWhen.then(() => instance.stop(), () => instance.stop());
  });
}

module.exports = { runLoad, perConnection, dealer, processCpuMs };
