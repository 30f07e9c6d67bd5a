'use strict';
// The load scenarios: what each connection of a run sends to the service, the floor or a stack floor.
const { spawn } = require('node:child_process');
const { join } = require('node:path');
const { runLoad, perConnection, dealer } = require('./load');
const { resyncChains } = require('./client');
const { BENCH_USER_AGENT, S3_EMAIL, S3_PASSWORD } = require('./params');

/** GET `path` with each connection's own user's access token. */
function bearerRequest(path, users) {
  return [
    perConnection({
      method: 'GET',
      path,
      assign: dealer(users),
      build: (req, u) => {
        req.headers = { ...req.headers, authorization: `Bearer ${u.access}` };
        return req;
      },
    }),
  ];
}

/** POST `path` with each connection's own refresh-token chain, following it as it rotates. */
function refreshRequest(path, chains) {
  return [
    perConnection({
      method: 'POST',
      path,
      headers: { 'content-type': 'application/json', 'user-agent': BENCH_USER_AGENT },
      assign: dealer(chains, { exclusive: true }),
      build: (req, chain) => {
        req.body = `{"refreshToken":"${chain.token}"}`;
        return req;
      },
      onResponse: (status, body, chain) => {
        if (status !== 200) return;
        const m = /"refreshToken":"([^"]+)"/.exec(body);
        if (m) chain.token = m[1];
      },
    }),
  ];
}

/** S3's floor: bcrypt.compare alone at the same cost and concurrency, in a process of its own. */
function bcryptFloor(P, seconds, warmup) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(__dirname, '..', 'bcrypt-floor.js'), String(P.bcryptCost), String(P.s3Conns), String(seconds), String(warmup)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`bcrypt floor exited with ${code}`));
      const r = JSON.parse(out.trim().split('\n').pop());
      resolve({ ...r, ok: r.ops, non2xx: 0, errors: 0, timeouts: 0, statusCodes: {} });
    });
  });
}

/** name → { run(seconds, extra) } for a phase's users, against the service, the floor and the stack floors. */
function scenarios(P, svc, floor, users, stacks = {}) {
  const sample = users.slice(0, P.conns);
  const svcChains = sample.map((u) => u.chain);
  const floorChains = sample.map((u) => u.floorChain);
  const load = (base, requests, after, connections = P.conns, timeout = 10) => ({
    run: async (seconds, extra = {}) => {
      const r = await runLoad({ url: base.baseUrl, pid: base.pid, connections, duration: seconds, requests: requests(), timeout, ...extra });
      base.assertAlive?.();
      if (after) await after();
      return r;
    },
  });
  return {
    S1: load(svc, () => bearerRequest('/sessions', sample)),
    F1: load(floor, () => bearerRequest('/sessions', sample)),
    S2: load(svc, () => refreshRequest('/auth/refresh', svcChains), () => resyncChains(svc.baseUrl, '/auth/refresh', svcChains)),
    F2: load(floor, () => refreshRequest('/auth/refresh', floorChains), () => resyncChains(floor.baseUrl, '/auth/refresh', floorChains)),
    // The stack floors (bench/stack-floor.js) continue the floor's refresh chains (same token format, same checks).
    ...Object.fromEntries(
      Object.entries(stacks).flatMap(([letter, base]) => [
        [`${letter}1`, load(base, () => bearerRequest('/sessions', sample))],
        [`${letter}2`, load(base, () => refreshRequest('/auth/refresh', floorChains), () => resyncChains(base.baseUrl, '/auth/refresh', floorChains))],
        [`${letter}4`, load(base, () => bearerRequest('/auth/me', sample))],
        [`${letter}1mem`, load(base, () => bearerRequest('/sessions', users.slice(0, P.memConns)), null, P.memConns)],
      ]),
    ),
    S4: load(svc, () => bearerRequest('/auth/me', sample)),
    F4: load(floor, () => bearerRequest('/auth/me', sample)),
    S3: load(
      svc,
      () => [{ method: 'POST', path: '/auth/login', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: S3_EMAIL, password: S3_PASSWORD }) }],
      null,
      P.s3Conns,
      60,
    ),
    B3: { run: (seconds, { warmup = 0 } = {}) => bcryptFloor(P, seconds, warmup) },
    S1mem: load(svc, () => bearerRequest('/sessions', users.slice(0, P.memConns)), null, P.memConns),
  };
}

module.exports = { scenarios };
