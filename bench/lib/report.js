'use strict';
// Renders the bench results as Markdown (bench/RESULTS.md for a full run): one function per section.
const { writeFile } = require('node:fs/promises');
const { STACKS } = require('./stacks');
const { summary: summaryOf } = require('./util');
const { startNodeArgs } = require('./service');

const MB = 1e6;

function num(x, digits = 0) {
  if (!Number.isFinite(x)) return 'n/a';
  return x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** "median (min–max)" of a summary; `scale` divides every value. */
function range(s, digits = 0, scale = 1) {
  if (!s || !Number.isFinite(s.median)) return 'n/a';
  const m = num(s.median / scale, digits);
  if (s.n <= 1 || !Number.isFinite(s.min)) return m;
  return `${m} (${num(s.min / scale, digits)}–${num(s.max / scale, digits)})`;
}

const ratioText = (s) => (s && Number.isFinite(s.median) ? `${range(s, 2)} ×` : 'n/a');
const mark = (ok) => (ok === undefined ? '–' : ok ? '✓' : '✗');

function scaleRatio(large, small, key) {
  if (!large || !small) return null;
  const s = summaryOf(large.runs.map((r, i) => r[key] / (small.runs[i] ?? small.runs[0])[key]));
  s.median = large[key].median / small[key].median; // ratio of the medians
  return s;
}

const SCENARIO_HEADER = [
  '| Scenario | req/s | p50 ms | p99 ms | Floor | floor req/s | floor p50 / p99 ms | ratio to floor | server CPU ms/request: scenario / floor |',
  '|---|---|---|---|---|---|---|---|---|',
];

function scenarioRow(label, e, floorLabel) {
  if (!e) return `| ${label} | n/a | | | | | | | |`;
  const cpu = `${range(e.cpu, 2)} / ${e.floorCpu && Number.isFinite(e.floorCpu.median) ? range(e.floorCpu, 2) : '–'}`;
  return `| ${label} | ${range(e.rps, 1)} | ${range(e.p50, 2)} | ${range(e.p99, 2)} | ${floorLabel ?? e.floor ?? '–'} | ${
    e.floorRps ? range(e.floorRps, 1) : '–'
  } | ${e.floorP50 ? `${range(e.floorP50, 2)} / ${range(e.floorP99, 2)}` : '–'} | ${e.ratio ? ratioText(e.ratio) : '–'} | ${cpu} |`;
}

/**
 * The stack floors next to the floor and the service: how much of the gap to the floor the
 * prescribed stack (NestJS on either HTTP adapter, MikroORM) takes before the service adds anything.
 */
function stackSection(r) {
  const pairs = r.pairs;
  const rows = [
    ['S1 `GET /sessions`', pairs.S1, 1],
    ['S2 `POST /auth/refresh`', pairs.S2, 2],
    ['S4 `GET /auth/me`', pairs.S4, 4],
  ].filter(([, e]) => e?.also && Object.keys(e.also).length);
  if (!rows.length) return [];
  const stacks = STACKS.filter((st) => rows.some(([, e, n]) => e.also[`${st.letter}${n}`]));
  const L = [];
  L.push('## How far the stack lets the service go', '');
  L.push(
    `${['No', 'One', 'Two', 'Three', 'Four'][stacks.length] ?? stacks.length} more floors serve the same requests with the same statements (forms, \`set_config\`, transaction, role, pool size) as the floor, tokens decoded and not verified, and nothing else — ` +
      'but on the stack the design prescribes ([bench/stack-floor.js](stack-floor.js)): a NestJS app whose global interceptor opens the transaction, ' +
      'either on a client of a plain `pg` pool ("+ pg") or in `em.fork().transactional()` with every statement sent through that transaction (Kysely, bound parameters), as the service does ("+ MikroORM"); ' +
      'on Nest\'s default Express adapter, which the service uses, and on its Fastify adapter. ' +
      'No guard, validation, logging, security headers or exception mapping. The service can at best approach NestJS + MikroORM; where that floor is below a target on both adapters, the target cannot be met on this stack.',
  );
  L.push('');
  L.push(
    `| Scenario | floor req/s | ${stacks.map((st) => `${st.label}: req/s, × floor`).join(' | ')} | service: req/s, × floor | service ÷ ${STACKS[0].label} | ` +
      `server CPU ms/request: floor / ${stacks.map((st) => st.label).join(' / ')} / service |`,
  );
  L.push(`|---|---|${stacks.map(() => '---|').join('')}---|---|---|`);
  for (const [label, e, n] of rows) {
    const x = (st) => e.also[`${st.letter}${n}`];
    L.push(
      `| ${label} | ${range(e.floorRps, 1)} | ${stacks.map((st) => `${range(x(st)?.rps, 1)}, **${ratioText(x(st)?.ratio)}**`).join(' | ')} | ` +
        `${range(e.rps, 1)}, **${ratioText(e.ratio)}** | ${ratioText(e.also[`${STACKS[0].letter}${n}`]?.serviceTo)} | ` +
        `${range(e.floorCpu, 2)} / ${stacks.map((st) => range(x(st)?.cpu, 2)).join(' / ')} / ${range(e.cpu, 2)} |`,
    );
  }
  L.push('');
  const [, e1, n1] = rows[0];
  const cpu = (letter) => e1.also[`${letter}${n1}`]?.cpu?.median;
  const f = e1.floorCpu?.median;
  const layers = (pg, orm, adapter, what) =>
    [pg, orm].every(Number.isFinite) ? `on ${adapter}, NestJS's request pipeline adds ${num(pg - f, 2)} ms and the MikroORM transaction${what} ${num(orm - pg, 2)} ms more` : null;
  const express = layers(cpu('N'), cpu('G'), 'Express', ' (entity-manager fork, Kysely transaction, statements through Kysely)');
  const fastify = layers(cpu('P'), cpu('H'), 'Fastify', '');
  L.push(
    `Runs alternate: service, floor, ${stacks.map((st) => st.label).join(', ')}, at the small size. The load generator, PostgreSQL and the server under test share the same cores, ` +
      "so throughput follows the server's CPU per request." +
      (Number.isFinite(f) && express
        ? ` For ${rows[0][0]}: the floor spends ${num(f, 2)} ms; ${[express, fastify].filter(Boolean).join('; ')}; ` +
          `the service's own work (token verification, logging, security headers, validation, rate-limit and error mapping, DTOs) ${num(ownCpu(e1, n1), 2)} ms on top of NestJS + MikroORM.`
        : ''),
  );
  L.push('');
  return L;
}

function codeBlock(text, lang = '') {
  return `\`\`\`${lang}\n${String(text).replace(/```/g, "'''")}\n\`\`\``;
}

/** The scenarios with stack floors, as [label, pairs key / scenario number]. */
const HOT = [
  ['S1 `GET /sessions`', 1],
  ['S2 `POST /auth/refresh`', 2],
  ['S4 `GET /auth/me`', 4],
];
/** The stack floor the service is held to: NestJS + MikroORM on Express, what the service runs on. */
const OWN_STACK = STACKS[0];

/** The service's own CPU per request: its server CPU ms/request above its stack floor's (medians). */
function ownCpu(e, n) {
  const own = e?.cpu?.median - e?.also?.[`${OWN_STACK.letter}${n}`]?.cpu?.median;
  return Number.isFinite(own) ? own : undefined;
}

/** "S1 <value> ✓, S2 <value> ✗, S4 <value> ✓" and whether all three are met (undefined when none was measured). */
function eachHot(r, value) {
  const parts = HOT.map(([, n]) => ({ n, ...value(r.pairs[`S${n}`], n) })).filter((x) => x.text !== undefined);
  if (!parts.length) return { text: 'n/a', ok: undefined };
  return { text: parts.map((x) => `S${x.n} ${x.text} ${mark(x.ok)}`).join(', '), ok: parts.length === HOT.length && parts.every((x) => x.ok) };
}

function header(r) {
  const L = [];
  L.push(`# Benchmark results${r.mode === 'quick' ? ' (quick run: tiny sizes, figures meaningless)' : ''}`, '');
  L.push(
    `Written by \`npm run bench${r.mode === 'quick' ? ':quick' : ''}\` ([bench/run.js](run.js)) on ${r.startedAt.slice(0, 10)} ` +
      `(${r.startedAt.slice(11, 19)}–${(r.finishedAt || '').slice(11, 19)} UTC). Every figure is the median of ${r.params.runs} run(s) ` +
      `with the min–max in parentheses; ratios are ratios of the medians (min–max over paired runs). Targets are reported, not asserted.`,
  );
  L.push('');
  if (r.failures.length) {
    L.push(`**This run had ${r.failures.length} problem(s):**`, '');
    for (const f of r.failures) L.push(`- ${f}`);
    L.push('');
  }
  return L;
}

function summarySection(r) {
  const P = r.params;
  const pairs = r.pairs;
  const purge = r.purge;
  const peak = r.memory?.peak;
  const st = r.statements;
  const small = r.phases.small;
  const large = r.phases.large;
  const s1Scale = scaleRatio(pairs.S1large, pairs.S1, 'p50');
  const s2Scale = scaleRatio(pairs.S2large, pairs.S2, 'p50');
  const hotSeqScans = (r.explain || []).filter((e) => e.seqScan).length;
  const L = [];
  L.push('## Summary', '');
  if (r.mode === 'quick') {
    L.push('*A quick run only proves the harness works: with tables this small PostgreSQL rightly prefers sequential scans, and runs of a second say nothing about speed.*', '');
  }
  L.push('| Target | Result | Met |');
  L.push('|---|---|---|');
  const t = (label, value, ok) => L.push(`| ${label} | ${value} | ${mark(ok)} |`);
  // What the stack alone reaches (see "How far the stack lets the service go").
  const ceiling = (e, n) => {
    const found = STACKS.filter((s) => e?.also?.[`${s.letter}${n}`]);
    if (!found.length) return '';
    return ` — the stack alone: ${found.map((s) => `${s.label} ${ratioText(e.also[`${s.letter}${n}`].ratio)}`).join(', ')}`;
  };
  for (const [label, n] of HOT) {
    const ratio = pairs[`S${n}`]?.ratio;
    t(`${label} throughput ≥ 0.5 × floor`, `${ratioText(ratio)}${ceiling(pairs[`S${n}`], n)}`, ratio && ratio.median >= 0.5);
  }
  const toStack = eachHot(r, (e, n) => {
    const s = e?.also?.[`${OWN_STACK.letter}${n}`]?.serviceTo;
    return s && Number.isFinite(s.median) ? { text: ratioText(s), ok: s.median >= 0.85 } : {};
  });
  t(`Service throughput ≥ 0.85 × its stack floor (${OWN_STACK.label}) on each of S1, S2, S4`, toStack.text, toStack.ok);
  const own = eachHot(r, (e, n) => {
    const ms = ownCpu(e, n);
    return ms === undefined ? {} : { text: `${num(ms, 2)} ms`, ok: ms <= 0.2 };
  });
  t(
    `Service's own work (guard, token check, validation, logging, headers, DTOs) ≤ 0.2 ms of CPU per request: its server CPU ms/request above ${OWN_STACK.label}'s, on each of S1, S2, S4`,
    own.text,
    own.ok,
  );
  const s3Ratio = pairs.S3?.ratio;
  t(`S3 \`POST /auth/login\` throughput ≥ 0.9 × bcrypt.compare alone (cost ${r.bcryptCost})`, ratioText(s3Ratio), s3Ratio && s3Ratio.median >= 0.9);
  t(`S1 p50 at ${num(large?.sessions)} rows ≤ 1.2 × p50 at ${num(small?.sessions)} rows`, ratioText(s1Scale), s1Scale && s1Scale.median <= 1.2);
  t(`S2 p50 at ${num(large?.sessions)} rows ≤ 1.2 × p50 at ${num(small?.sessions)} rows`, ratioText(s2Scale), s2Scale && s2Scale.median <= 1.2);
  t(`Purge of ${num(P.ended)} ended sessions ≥ 50,000 rows/s`, `${range(purge.rowsPerSecond)} rows/s`, purge.rowsPerSecond?.median >= 50_000);
  t('S1 p99 during the purge ≤ 2 × S1 p99 alone', ratioText(purge.p99Ratio), purge.p99Ratio?.median <= 2);
  const capped = r.memory?.capped;
  t(
    `Peak RSS of the service during S1 at ${P.memConns} connections < 200 MB`,
    `${range(peak, 1, MB)} MB` +
      (capped ? ` (with the young generation capped, \`${capped.flag}\`: ${range(capped.peak, 1, MB)} MB, server CPU ms/request ${range(r.memory.cpu, 2)} → ${range(capped.cpu, 2)}` : '') +
      (r.memory?.container?.peak ? `; in a ${num(r.memory.container.limitBytes / 2 ** 30)} GiB container: ${range(r.memory.container.peak, 1, MB)} MB, server CPU ms/request ${range(r.memory.container.cpu, 2)}` : '') +
      (r.memory?.stack ? `; the stack floor ${r.memory.stack.label} under the same load: ${range(r.memory.stack.peak, 1, MB)} MB, with the service's heap growing factor ${range(r.memory.stack.growing.peak, 1, MB)} MB` : '') +
      (capped || r.memory?.stack ? '; see Memory)' : ''),
    peak?.median < 200 * MB,
  );
  t('No hot-path statement is a sequential scan of `sessions` or `users` (EXPLAIN at the large size)', hotSeqScans ? `${hotSeqScans} seq scan(s)` : 'none', r.explain ? hotSeqScans === 0 : undefined);
  if (r.purgePlans) {
    const bad = r.purgePlans.filter((p) => p.seqScan).map((p) => p.call);
    t('The purge\'s DELETE (inside purge_ended_sessions) uses no sequential scan', bad.length ? `seq scan in call(s) ${bad.join(', ')} of ${r.purgePlans.length}` : 'none', bad.length === 0);
  }
  if (st && !st.skipped) {
    t('The floor sends the service\'s statements, one for one', `S1 ${mark(st.S1.same)}, S2 ${mark(st.S2.same)}, S4 ${mark(st.S4.same)}`, st.S1.same && st.S2.same && st.S4.same);
  }
  L.push('');
  return L;
}

function machineSection(r) {
  const P = r.params;
  const m = r.machine;
  const L = [];
  L.push('## Machine, versions, settings', '');
  L.push(`- Machine: ${m.cpu}, ${m.cores} cores, ${num(m.memoryGiB, 1)} GiB RAM; ${m.os}.`);
  L.push(`- Load average (1/5/15 min) at start ${m.loadavgStart.map((x) => x.toFixed(2)).join(' / ')}, at end ${(m.loadavgEnd || []).map((x) => x.toFixed(2)).join(' / ')}.`);
  L.push(`- Node.js ${r.versions.node}; service commit ${r.versions.service}; ${Object.entries(r.versions).filter(([k]) => !['node', 'service', 'postgres'].includes(k)).map(([k, v]) => `${k} ${v}`).join(', ')}.`);
  L.push(`- Database: ${r.database}; ${r.versions.postgres}.`);
  L.push(
    `- Service: \`node ${startNodeArgs().map((a) => `${a} `).join('')}dist/main.js\` (what \`npm start\` runs) after \`npm run build\`, \`NODE_ENV=production\`, default \`LOG_LEVEL=info\` (one JSON log line per request, to a file), ` +
      `\`DATABASE_POOL_MAX=${r.poolMax}\`, \`BCRYPT_COST=${r.bcryptCost}\`, rate limits raised out of the way, \`ACCESS_TOKEN_TTL=86400\`, the purge timer off (\`PURGE_INTERVAL_SECONDS=0\`; the purge is run by \`npm run sessions:purge\`'s CLI).`,
  );
  L.push(
    `- Load: autocannon ${r.versions.autocannon}, programmatic, in the orchestrator's process, over loopback, one request in flight per connection. ` +
      `S1/S2/S4 and their floors: ${P.conns} connections; S3 and its floor: ${P.s3Conns}; memory: ${P.memConns}. Runs of ${P.duration} s (S3 ${P.s3Duration} s) after a ${P.warmup} s warm-up; ` +
      `a scenario's runs alternate with its floor's runs. ` +
      (P.processWarmup > 0 ? `Before the first scenario, every process under test serves S1, S2 and S4 for ${P.processWarmup} s each (a newly started process takes longer than a scenario's warm-up to reach its steady state). ` : '') +
      `Latencies are exact percentiles of every 2xx response time (not autocannon's 1 ms histogram).`,
  );
  L.push(
    `- **The load generator, the service, the floor and PostgreSQL share the same ${m.cores} cores.** Absolute figures are therefore low and noisy (the machine was also running other work, see the load average); ` +
      `the ratios compare runs made back to back under the same conditions.`,
  );
  L.push('');
  return L;
}

function floorSection(r) {
  const L = [];
  L.push('## The floor', '');
  L.push(
    'A bare `node:http` + `pg` server ([bench/floor-server.js](floor-server.js)) that runs, per request, the statements the service runs for S1, S2 and S4 — ' +
      'the same transaction, the same `set_config` calls (the exact statement and its extra values are taken from this run\'s capture of the service' +
      (r.setConfig ? `: \`${r.setConfig.text}\`${r.setConfig.extra.length ? ` with ${r.setConfig.extra.map((v) => `'${v}'`).join(', ')} after the user id` : ''}` : '') +
      '), the same statement texts in the same form — values inlined into the text (MikroORM\'s query builder) or bound as parameters (hand-written SQL), as this run\'s capture shows for each' +
      (r.forms && Object.keys(r.forms).length ? ` (${Object.entries(r.forms).map(([k, v]) => `${k}: ${v.form === 'bind' ? 'bound' : 'inlined'}`).join(', ')})` : '') +
      ' — over the same protocol, ' +
      `as the same runtime role, with a pool of the same size (${r.poolMax}) — and nothing else: **DB work + raw HTTP only**. It does not verify the access token (it decodes the JWT payload) ` +
      'nor the refresh token\'s HMAC (it decodes the claims and issues a successor with a dummy MAC), has no validation, logging, security headers or exception mapping. ' +
      'Its refresh chains are separate sessions of the same users. `POST /auth/refresh` runs the statements a refresh needs (one UPDATE). S3\'s floor is `bcrypt.compare` alone at the same cost, with as many compares in flight as S3 has connections, ' +
      'in a separate Node.js process with the default libuv thread pool, like the service ([bench/bcrypt-floor.js](bcrypt-floor.js)).',
  );
  L.push('');
  return L;
}

function smallSection(r) {
  const P = r.params;
  const pairs = r.pairs;
  const small = r.phases.small;
  const L = [];
  L.push(`## Scenarios at ${num(small?.sessions)} sessions (${num(small?.users)} users)`, '');
  L.push(...SCENARIO_HEADER);
  L.push(scenarioRow('S1 `GET /sessions`', pairs.S1, 'bare S1'));
  L.push(scenarioRow('S2 `POST /auth/refresh`', pairs.S2, 'bare S2'));
  L.push(scenarioRow('S3 `POST /auth/login`', pairs.S3, `bcrypt.compare, cost ${r.bcryptCost}`));
  L.push(scenarioRow('S4 `GET /auth/me`', pairs.S4, 'bare S4'), '');
  L.push(
    `Data: ${P.small.users} users × ${P.small.perUser} seeded sessions, plus each bench user's own sign-ins (one, or two for the first ${P.conns} users: the floor's refresh chains) ` +
      `and the S3 account's sign-ins. Each connection uses its own user's access token; in S2 each connection follows its own rotating refresh-token chain.`,
  );
  L.push('');
  L.push(
    '*Server CPU ms/request* is the CPU time (user + system, /proc/<pid>/stat) the service process — or the floor process — used during the run divided by the requests it answered: ' +
      'the framework\'s cost per request, independent of how busy the machine was (PostgreSQL\'s own CPU is not in it). ' +
      `The load generator (autocannon, in the orchestrator) used ${range(summaryOf(Object.values(pairs).flatMap((e) => e.runs.map((x) => x.loadCpuMsPerRequest))), 3)} ms of CPU per request.`,
  );
  L.push('');
  return L;
}

function scaleSection(r) {
  const P = r.params;
  const pairs = r.pairs;
  const small = r.phases.small;
  const large = r.phases.large;
  const L = [];
  L.push(`## Scale: ${num(large?.sessions)} sessions (${num(large?.users)} users)`, '');
  L.push(...SCENARIO_HEADER);
  L.push(scenarioRow('S1 `GET /sessions`', pairs.S1large, 'bare S1'));
  L.push(scenarioRow('S2 `POST /auth/refresh`', pairs.S2large, 'bare S2'), '');
  for (const [label, lg, sm] of [
    ['S1', pairs.S1large, pairs.S1],
    ['S2', pairs.S2large, pairs.S2],
  ]) {
    const sc = scaleRatio(lg, sm, 'p50');
    const fl = scaleRatio(floorOf(lg), floorOf(sm), 'p50');
    const normalized = sc && fl ? sc.median / fl.median : NaN;
    const cpu = lg?.cpu && sm?.cpu ? lg.cpu.median / sm.cpu.median : NaN;
    L.push(
      `- ${label} p50 at ${num(large?.sessions)} rows / p50 at ${num(small?.sessions)} rows: **${ratioText(sc)}**; the floor's: ${ratioText(fl)}; ` +
        `the service's relative to the floor's (cancels most of the machine's drift between the phases): ${num(normalized, 2)} ×; service CPU ms/request: ${num(cpu, 2)} ×.`,
    );
  }
  L.push(
    `- Seeded with \`generate_series\` as the owner (${num(P.large.users)} users × ${P.large.perUser} sessions, session-major so one user's rows are spread over the heap), ` +
      `then \`VACUUM (ANALYZE)\` and \`CHECKPOINT\`${r.seedLargeSeconds ? ` (${num(r.seedLargeSeconds, 0)} s in all)` : ''}; sessions table ${num(large?.sessions_bytes / MB)} MB with its indexes. ` +
      `The bench users of this phase are spread over the whole user range.`,
  );
  L.push('');
  return L;
}

function warnSection(r) {
  const pairs = r.pairs;
  const L = [];
  L.push('## LOG_LEVEL=warn variant (large size)', '');
  L.push('| Scenario | req/s `info` → `warn` | p50 ms `info` → `warn` | ratio to floor `info` → `warn` | service CPU ms/request `info` → `warn` |');
  L.push('|---|---|---|---|---|');
  for (const [label, info, warn] of [
    ['S1', pairs.S1large, r.variants.S1warn],
    ['S2', pairs.S2large, r.variants.S2warn],
  ]) {
    // A warn entry without its own floor runs (older results) is compared with the info runs' floor.
    const warnRatio = warn?.ratio ?? (info?.floorRps && warn ? { median: warn.rps.median / info.floorRps.median, n: 1 } : null);
    L.push(
      `| ${label} | ${range(info?.rps, 1)} → ${range(warn?.rps, 1)} | ${range(info?.p50, 2)} → ${range(warn?.p50, 2)} | ${ratioText(info?.ratio)} → ${ratioText(warnRatio)} | ${range(info?.cpu, 2)} → ${range(warn?.cpu, 2)} |`,
    );
  }
  L.push('');
  L.push(
    'The `warn` variant is a second service process (same build, same database, `LOG_LEVEL=warn`: no per-request log line) started with the main one and idle until its turn, ' +
      'measured (after its own warm-up) right after the `info` runs' +
      (r.variants.S1warn?.floorRuns?.length ? ', its runs alternating with the floor\'s again.' : '; its ratio uses the `info` runs\' floor.') +
      ' CPU ms/request is the figure least disturbed by other load on the machine.',
  );
  L.push('');
  return L;
}

function purgeSection(r) {
  const P = r.params;
  const purge = r.purge;
  const large = r.phases.large;
  const L = [];
  L.push('## Purge at scale', '');
  L.push(
    `${num(P.ended)} sessions that ended long ago (90% expired 60+ days ago, 10% revoked 50 days ago; appended after the live rows, spread over all users) are added to the ` +
      `${num(large?.sessions)} live ones, then \`VACUUM (ANALYZE)\`; S1 runs ${P.purgeAlone} s alone; then \`npm run sessions:purge\`'s CLI (\`node dist/cli/purge-sessions.js\`, batches of ${num(P.purgeBatchSize)}) ` +
      `purges while S1 runs for exactly the purge's duration. Rows/s = rows removed / time inside \`SessionsPurgeService.purge()\` (timed by [bench/purge-timer.js](purge-timer.js), preloaded; process start-up excluded). ` +
      `\`VACUUM\` between runs.`,
  );
  L.push('');
  L.push('| Run | removed | seconds | rows/s | S1 p99 alone ms | S1 p99 during ms | ratio | S1 req/s alone → during |');
  L.push('|---|---|---|---|---|---|---|---|');
  for (const p of purge.runs) {
    L.push(
      `| ${p.run} | ${num(p.removed)} | ${num(p.seconds, 2)} | ${num(p.rowsPerSecond)} | ${num(p.alone.p99, 2)} | ${num(p.during.p99, 2)} | ${num(p.during.p99 / p.alone.p99, 2)} × | ${num(p.alone.rps, 1)} → ${num(p.during.rps, 1)} |`,
    );
  }
  L.push(
    `| **median** | | | **${range(purge.rowsPerSecond)}** | ${range(purge.aloneP99, 2)} | ${range(purge.duringP99, 2)} | **${ratioText(purge.p99Ratio)}** | |`,
  );
  L.push('');
  if (r.purgePlans) L.push(...purgePlans(r.purgePlans));
  return L;
}

/** How PostgreSQL ran the purge's DELETE, call by call. */
function purgePlans(plans) {
  const L = [];
  L.push(
    'How PostgreSQL runs the DELETE inside `purge_ended_sessions`, for consecutive calls in one session (as the CLI\'s pooled connection makes them; each call rolled back here). ' +
      'PL/pgSQL caches the statement\'s plan and may switch from custom plans to a generic one after five calls:',
  );
  L.push('');
  L.push('| Call | ms | plan of the DELETE\'s row source | seq scan |');
  L.push('|---|---|---|---|');
  for (const p of plans) {
    const scan = /(Seq Scan on \w+|Index (Only )?Scan[^\n(]*)/.exec(p.plan)?.[0] ?? '?';
    L.push(`| ${p.call} | ${num(p.ms, 1)} | ${scan.trim()} | ${p.seqScan ? '✗ yes' : 'no'} |`);
  }
  L.push('');
  const first = plans[0];
  const last = plans[plans.length - 1];
  L.push(`<details><summary>auto_explain of call 1 and call ${last.call}</summary>`, '');
  L.push(codeBlock(`-- call 1 (${num(first.ms, 1)} ms)\n${first.plan}\n\n-- call ${last.call} (${num(last.ms, 1)} ms)\n${last.plan}`), '');
  L.push('</details>', '');
  return L;
}

function memorySection(r) {
  const P = r.params;
  const peak = r.memory?.peak;
  const L = [];
  L.push('## Memory', '');
  if (r.memory?.runs) {
    L.push(
      `Peak RSS of the service process during S1 at ${P.memConns} connections (large size): **${range(peak, 1, MB)} MB** ` +
        `(${r.memory.hwmReset ? 'VmHWM of /proc/<pid>/status, reset before each run via clear_refs, and' : ''} VmRSS sampled every 50 ms; the larger of the two). ` +
        `RSS right after start-up: ${num(r.memory.idleAfterStart / MB, 1)} MB. Throughput at ${P.memConns} connections: ${range(summaryOf(r.memory.runs.map((x) => x.load.rps)), 1)} req/s, ` +
        `p50 ${range(summaryOf(r.memory.runs.map((x) => x.load.p50)), 2)} ms, p99 ${range(summaryOf(r.memory.runs.map((x) => x.load.p99)), 2)} ms.`,
    );
    const d = r.memory.capped;
    if (d) {
      L.push('');
      L.push(
        'Between full collections V8 lets the old generation grow to up to 4× what survived the last one; under load most of what reaches it is request garbage. ' +
          'The service sets the growing factor to 1.5 (`--heap-growing-percent=50`, src/main.ts), which keeps the old generation near its live data. ' +
          'The young generation it leaves at the size V8 picks for the machine (on this one it grows to 128 MB under load). ' +
          `A second service process with it capped (\`${d.flag}\` on its command line: 2 × 16 MB), its runs alternating with these: peak RSS **${range(d.peak, 1, MB)} MB**, ` +
          `${range(d.rps, 1)} req/s; server CPU ms/request ${range(r.memory.cpu, 2)} without the cap, ${range(d.cpu, 2)} with it.`,
      );
    }
    const c = r.memory.container;
    if (c?.peak) {
      L.push('');
      L.push(
        `In a container V8 sizes the heap from the container's limit instead of the machine's memory (README, Operations). A third service process in a memory cgroup of ${num(c.limitBytes / 2 ** 30)} GiB ` +
          `([bench/lib/cgroup.js](lib/cgroup.js)), V8's choice for it untouched, its runs alternating with these: peak RSS **${range(c.peak, 1, MB)} MB**, ${range(c.rps, 1)} req/s, server CPU ms/request ${range(c.cpu, 2)}.`,
      );
    } else if (c?.skipped) {
      L.push('', `No run in a container: ${c.skipped}.`);
    }
    const g = r.memory.stack;
    if (g) {
      L.push('');
      L.push(
        `What the stack itself needs under the same load: the stack floor ${g.label} ([bench/stack-floor.js](stack-floor.js): the same statements, tokens decoded and not verified, nothing else), its runs alternating with these. ` +
          `As the other phases run it (V8's defaults): peak RSS **${range(g.peak, 1, MB)} MB**, ${range(g.rps, 1)} req/s, server CPU ms/request ${range(g.cpu, 2)}. ` +
          `A second process of it with the service's heap growing factor (\`${g.growing.flag}\`): peak RSS **${range(g.growing.peak, 1, MB)} MB**, ${range(g.growing.rps, 1)} req/s, server CPU ms/request ${range(g.growing.cpu, 2)}. ` +
          'Where these are above the target, the stack alone does not meet it with the young generation V8 picks for the machine.',
      );
    }
  }
  L.push('');
  return L;
}

function statementsSection(r) {
  const st = r.statements;
  const L = [];
  L.push('## Statements per request', '');
  if (!st || st.skipped) {
    L.push(st?.skipped ?? 'Not captured.');
    return L;
  }
  L.push(
    'Captured with `log_statement = all` on the bench\'s server (`ALTER SYSTEM` + reload) while one request of each scenario went to the service and to the floor; ' +
      '"(bind)" marks a statement sent with bound parameters (extended protocol), the others are simple-protocol texts with the values inlined by MikroORM (masked here as `?`). ' +
      'Each statement is one round trip.',
  );
  L.push('');
  const raw = st.raw || {};
  const show = (title, seg) => {
    const connections = new Set((seg || []).map((x) => x.pid)).size;
    L.push(`**${title}** — ${(seg || []).length} statements, ${connections === 1 ? 'on one connection' : `**on ${connections} connections**`}:`, '');
    L.push(codeBlock((seg || []).map((s) => `${s.kind === 'extended' ? '(bind) ' : ''}${s.text}${s.params ? `\n    -- ${s.params}` : ''}`).join('\n'), 'sql'), '');
  };
  show('S1 `GET /sessions` (service)', raw.S1);
  show('S2 `POST /auth/refresh` (service)', raw.S2);
  show('S3 `POST /auth/login` (service)', raw.S3);
  show('S4 `GET /auth/me` (service)', raw.S4);
  L.push('Service vs floor, statement by statement (values masked):', '');
  for (const [k, label] of [
    ['S1', 'S1 vs floor'],
    ['S2', 'S2 vs floor (one UPDATE)'],
    ['S4', 'S4 vs floor'],
  ]) {
    const c = st[k];
    L.push(`- ${label}: ${c.same ? '✓ identical' : '✗ different'} (${c.service.length} vs ${c.floor.length} statements)`);
    if (!c.same) {
      const n = Math.max(c.service.length, c.floor.length);
      for (let i = 0; i < n; i++) {
        if (c.service[i] !== c.floor[i]) L.push(`  - #${i + 1}: service \`${c.service[i] ?? '—'}\` · floor \`${c.floor[i] ?? '—'}\``);
      }
    }
  }
  L.push('');
  return L;
}

function explainSection(r) {
  const L = [];
  L.push(`## EXPLAIN (ANALYZE, BUFFERS) at ${num(r.explainCounts?.sessions)} sessions`, '');
  L.push(
    'Each hot-path statement, as the runtime role (RLS applies), inside a transaction that first runs `set_config(\'app.current_user_id\', <a seeded user>, true)`, ' +
      'run once to warm up, then explained, then rolled back (the UPDATE and INSERT change nothing). Values are shown inlined; a statement the service binds is sent unnamed, ' +
      'and PostgreSQL plans an unnamed statement with its values, so the plan is the same. ✗ marks a `Seq Scan on sessions` or `Seq Scan on users`.',
  );
  L.push('');
  L.push('| Path | Statement | Plan | OK |');
  L.push('|---|---|---|---|');
  for (const e of r.explain || []) {
    const nodes = [...e.plan.matchAll(/(Seq Scan on \w+|Index Only Scan using \w+ on \w+|Index Scan using \w+ on \w+|Bitmap Heap Scan on \w+|Bitmap Index Scan on \w+|Function Scan on \w+|Insert on \w+|Update on \w+|Result|Nested Loop|Sort)/g)]
      .map((x) => x[0])
      .filter((v, i, a) => a.indexOf(v) === i);
    const time = /Execution Time: ([\d.]+) ms/.exec(e.plan)?.[1];
    L.push(`| ${e.path} | ${e.name} | ${nodes.join(', ')}${time ? ` — ${time} ms` : ''} | ${e.seqScan ? '✗' : '✓'} |`);
  }
  L.push('');
  for (const e of r.explain || []) {
    L.push(`<details><summary>${e.path}: ${e.name} ${e.seqScan ? '✗' : '✓'}</summary>`, '');
    L.push(`As: ${e.role}`, '');
    L.push(codeBlock(e.sql, 'sql'), '');
    L.push(codeBlock(e.plan), '');
    L.push('</details>', '');
  }
  return L;
}

function reproduceSection() {
  return [
    '## Reproduce',
    '',
    '```sh',
    'npm run bench         # this report (about 10–20 minutes)',
    'npm run bench:quick   # seconds: tiny sizes, asserts only zero non-2xx responses and no errors',
    'BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm run bench   # another server (superuser URL)',
    '```',
    '',
    'Raw per-run figures: `bench/results/*.json` (git-ignored).',
    '',
  ];
}

const SECTIONS = [
  header,
  summarySection,
  machineSection,
  floorSection,
  stackSection,
  smallSection,
  scaleSection,
  warnSection,
  purgeSection,
  memorySection,
  statementsSection,
  explainSection,
  reproduceSection,
];

function render(r) {
  return SECTIONS.flatMap((section) => section(r)).join('\n');
}

function floorOf(e) {
  if (!e || !e.floorRuns?.length) return null;
  return { runs: e.floorRuns, p50: summaryOf(e.floorRuns.map((r) => r.p50)) };
}

async function writeReport(results, path) {
  await writeFile(path, render(results));
}

module.exports = { writeReport, render };
