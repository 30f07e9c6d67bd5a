'use strict';
// Requests to the service outside the measurements: signing the bench users in, re-syncing refresh
// chains after a run.
const { BENCH_PASSWORD, BENCH_USER_AGENT } = require('./params');

async function http(baseUrl, method, path, { body, token } = {}) {
  const res = await fetch(baseUrl + path, {
    method,
    headers: { 'content-type': 'application/json', 'user-agent': BENCH_USER_AGENT, ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, body: json };
}

async function login(baseUrl, email, password) {
  const r = await http(baseUrl, 'POST', '/auth/login', { body: { email, password, deviceName: 'bench' } });
  if (r.status !== 200) throw new Error(`login ${email}: ${r.status} ${JSON.stringify(r.body)}`);
  const claims = JSON.parse(Buffer.from(r.body.accessToken.split('.')[1], 'base64url').toString());
  return { userId: claims.sub, sessionId: r.body.sessionId, access: r.body.accessToken, refresh: r.body.refreshToken };
}

/** fn(item, index) over `items`, at most `width` at a time; the results in order. */
async function inBatches(items, width, fn) {
  const out = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i], i);
      }
    }),
  );
  return out;
}

/**
 * Signs in the phase's bench users (seeded, cost-4 hashes: fast). Each gets an access token (S1, S4)
 * and a refresh-token chain for the service (S2); the first `conns` also get a second session whose
 * chain the floor rotates (the floor issues no real tokens, so the two chains must not mix).
 */
async function signInBenchUsers(P, svc, numbers) {
  return inBatches(numbers, 4, async (n, i) => {
    const email = `bench-user-${n}@bench.test`;
    const a = await login(svc.baseUrl, email, BENCH_PASSWORD);
    const user = { n, email, userId: a.userId, sessionId: a.sessionId, access: a.access, chain: { token: a.refresh } };
    if (i < P.conns) user.floorChain = { token: (await login(svc.baseUrl, email, BENCH_PASSWORD)).refresh };
    return user;
  });
}

/** After a refresh run: re-sync every chain (a response cut off at the end of the run leaves the
 * client one token behind; within the grace window the server answers with the same successor). */
async function resyncChains(baseUrl, path, chains) {
  await inBatches(chains, 8, async (chain) => {
    const r = await http(baseUrl, 'POST', path, { body: { refreshToken: chain.token } });
    if (r.status !== 200) throw new Error(`re-sync of a refresh chain at ${baseUrl}${path}: ${r.status}`);
    chain.token = r.body.refreshToken;
  });
}

module.exports = { http, login, signInBenchUsers, resyncChains };
