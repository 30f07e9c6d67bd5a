'use strict';
// Starts the built service (`node dist/main.js`) as a child process and watches its memory.
const { spawn } = require('node:child_process');
const { openSync, closeSync, readFileSync } = require('node:fs');
const { join, resolve } = require('node:path');
const { freePort, sleep, log } = require('./util');
const { createMemoryCgroup } = require('./cgroup');

const ROOT = resolve(__dirname, '..', '..');

/** Waits until GET url answers 200 (or the child exits). */
async function waitHealthy(url, child, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode) throw new Error(`process exited (${child.exitCode ?? child.signalCode}) before it was ready`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (res.status === 200) return;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) throw new Error(`${url} not healthy after ${timeoutMs} ms`);
    await sleep(100);
  }
}

/**
 * A child process with a port, its output in `logFile`, stopped with SIGTERM.
 * `args` run with this node binary; `readyPath` is polled for 200. `memoryLimit` (bytes): the process
 * runs in a memory cgroup of that size, as in a container with that limit (lib/cgroup.js).
 */
async function startProcess({ name, args, env, logFile, readyPath, nodeArgs = [], cwd = ROOT, memoryLimit }) {
  const port = await freePort();
  const cgroup = memoryLimit ? createMemoryCgroup(name, memoryLimit) : null;
  const fd = openSync(logFile, 'a');
  const command = [process.execPath, ...nodeArgs, ...args];
  // In a cgroup: a shell joins it, then execs node (same pid), so node starts inside the limit.
  const [file, ...argv] = cgroup ? ['/bin/sh', '-c', 'echo $$ > "$0" && exec "$@"', cgroup.procsFile, ...command] : command;
  const child = spawn(file, argv, {
    cwd,
    env: { ...env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  if (cgroup) child.once('exit', () => cgroup.remove());
  const exited = new Promise((r) => child.once('exit', r));
  const baseUrl = `http://127.0.0.1:${port}`;
  try {
    await waitHealthy(`${baseUrl}${readyPath}`, child);
  } catch (err) {
    child.kill('SIGKILL');
    let tail = '';
    try {
      tail = readFileSync(logFile, 'utf8').split('\n').slice(-30).join('\n');
    } catch {}
    throw new Error(`${name} did not start: ${err.message}\n--- ${logFile} (tail) ---\n${tail}`);
  }
  log(`${name}: pid ${child.pid} listening on ${baseUrl}${cgroup ? ` (memory cgroup of ${cgroup.bytes / 2 ** 20} MiB: ${cgroup.dir})` : ''}`);
  let exitNote = null;
  child.once('exit', (code, signal) => (exitNote = signal ? `signal ${signal}` : `exit code ${code}`));
  return {
    name,
    pid: child.pid,
    port,
    baseUrl,
    child,
    logFile,
    /** Throws, with the end of its log, if the process is gone. */
    assertAlive() {
      if (!exitNote) return;
      let tail = '';
      try {
        tail = readFileSync(logFile, 'utf8').split('\n').slice(-40).join('\n');
      } catch {}
      throw new Error(`${name} (pid ${child.pid}) is gone (${exitNote}); the end of ${logFile}:\n${tail}`);
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * The node options `npm start` runs the service with (package.json's `start` script: `node <options>
 * dist/main.js`), so the bench measures the process operators run.
 */
function startNodeArgs() {
  const start = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts.start;
  const m = /\bnode((?:\s+--\S+)*)\s+dist\/main\.js/.exec(start);
  if (!m) throw new Error(`package.json's start script does not run node … dist/main.js: ${start}`);
  return m[1].split(/\s+/).filter(Boolean);
}

/** The service in production mode against the bench database, with `npm start`'s node options (then `nodeArgs`). */
function startService({ appDir = ROOT, ownerUrl, secrets, logFile, cwd, extraEnv = {}, nodeArgs = [], memoryLimit }) {
  const env = serviceEnv({ ownerUrl, secrets, extraEnv });
  // cwd: a folder without a .env file, so a developer's .env cannot change the bench's settings.
  return startProcess({ name: 'service', args: [join(appDir, 'dist', 'main.js')], env, logFile, readyPath: '/health', nodeArgs: [...startNodeArgs(), ...nodeArgs], cwd, memoryLimit });
}

/** The service's environment (also used for the purge CLI). */
function serviceEnv({ ownerUrl, secrets, extraEnv = {} }) {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NODE_ENV: 'production',
    DATABASE_URL: ownerUrl,
    DATABASE_APP_USER: secrets.appUser,
    DATABASE_APP_PASSWORD: secrets.appPassword,
    JWT_ACCESS_SECRET: secrets.jwtSecret,
    REFRESH_TOKEN_SECRET: secrets.refreshSecret,
    // The bench's access tokens must outlive the whole run (the maximum the config accepts).
    ACCESS_TOKEN_TTL: '86400',
    // One client IP and a handful of accounts make every request of the bench: lift the limits.
    RATE_LIMIT_LOGIN_PER_IP: '1000000000',
    RATE_LIMIT_LOGIN_PER_ACCOUNT: '1000000000',
    RATE_LIMIT_REFRESH_PER_IP: '1000000000',
    RATE_LIMIT_REGISTER_PER_IP: '1000000000',
    // The purge is driven by the bench (npm run sessions:purge's CLI), not the hourly timer.
    PURGE_INTERVAL_SECONDS: '0',
    ...extraEnv,
  };
}

/** Current and peak resident set size (bytes) from /proc/<pid>/status. */
function readMemory(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key) => Number((new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status) || [])[1]) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

/** Resets VmHWM to the current RSS (Linux: write 5 to clear_refs). Returns false if not allowed. */
function resetPeak(pid) {
  try {
    require('node:fs').writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** Samples VmRSS every `everyMs` until stopped; stop() returns { maxRss, hwm, hwmReset }. */
function watchMemory(pid, everyMs = 50) {
  const hwmReset = resetPeak(pid);
  let maxRss = readMemory(pid).rss;
  const timer = setInterval(() => {
    try {
      maxRss = Math.max(maxRss, readMemory(pid).rss);
    } catch {}
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      const m = readMemory(pid);
      return { maxRss: Math.max(maxRss, m.rss), hwm: m.hwm, hwmReset };
    },
  };
}

module.exports = { startService, startNodeArgs, serviceEnv, startProcess, readMemory, watchMemory, waitHealthy, ROOT, join };
