'use strict';
// Phase 1b: the statement capture, then the floor (started with what the capture found) and the
// stack floors, all on the runtime role.
const { join } = require('node:path');
const { startCapture, compare } = require('../lib/capture');
const { http, login } = require('../lib/client');
const { cpuProfileArgs, POOL_MAX, S3_EMAIL, S3_PASSWORD } = require('../lib/params');
const { startProcess } = require('../lib/service');
const { STACKS } = require('../lib/stacks');
const { sleep, log } = require('../lib/util');
const { setConfigFromCapture, formsFromCapture } = require('../hot-paths');

/**
 * One request of each scenario to the service, with PostgreSQL logging every statement; then the
 * floor is started with the service's exact set_config statement (it carries extra settings in
 * some versions) and each statement in the form the service used (values inlined or bound), and
 * gets the same requests; the two sequences are compared statement by statement.
 * Without statement logging (external server) the floor uses hot-paths.js as written.
 */
async function captureAndStartFloor(run, db, svc, startFloor) {
  const { results } = run;
  const cap = await startCapture(db);
  if (!cap) {
    results.statements = { skipped: 'statement logging is captured from the embedded server only (BENCH_DATABASE_URL is set)' };
    return startFloor(null, null);
  }
  const expect200 = (label, r) => {
    if (r.status !== 200) run.fail(`statement capture ${label}: HTTP ${r.status}`);
    return r;
  };
  let floor;
  try {
    await cap.mark('S3');
    const t = await login(svc.baseUrl, S3_EMAIL, S3_PASSWORD);
    await cap.mark('S1');
    expect200('S1', await http(svc.baseUrl, 'GET', '/sessions', { token: t.access }));
    await cap.mark('S2');
    const r2 = expect200('S2', await http(svc.baseUrl, 'POST', '/auth/refresh', { body: { refreshToken: t.refresh } }));
    await cap.mark('S4');
    expect200('S4', await http(svc.baseUrl, 'GET', '/auth/me', { token: t.access }));
    await cap.mark('service-end');
    await sleep(300);
    const serviceStatements = cap.snapshot();
    results.setConfig = setConfigFromCapture(serviceStatements.S1);
    if (!results.setConfig) run.fail('statement capture: no set_config statement found in S1');
    results.forms = formsFromCapture(serviceStatements);
    floor = await startFloor(results.setConfig, results.forms);
    await cap.mark('F1');
    expect200('F1', await http(floor.baseUrl, 'GET', '/sessions', { token: t.access }));
    await cap.mark('F2');
    expect200('F2', await http(floor.baseUrl, 'POST', '/auth/refresh', { body: { refreshToken: r2.body.refreshToken } }));
    await cap.mark('F4');
    expect200('F4', await http(floor.baseUrl, 'GET', '/auth/me', { token: t.access }));
    await cap.mark('end');
  } finally {
    const seg = await cap.stop();
    results.statements = {
      raw: seg,
      S1: compare(seg.S1, seg.F1),
      S2: compare(seg.S2, seg.F2),
      S4: compare(seg.S4, seg.F4),
    };
  }
  for (const k of ['S1', 'S2', 'S4']) {
    if (!results.statements[k].same) log(`WARNING: the floor's statements for ${k} differ from the service's (see the report)`);
  }
  return floor;
}

/** Starts the floor (after the capture) and the stack floors: { floor, stacks: { letter: process } }. */
async function startFloors(run, stage) {
  const profile = cpuProfileArgs(join(run.resultsDir, 'profiles'));
  const start = (name, script, env) => startFloorProcess(run, name, script, env, profile);
  let floorEnv;
  const floor = await captureAndStartFloor(run, stage.db, stage.svc, (setConfig, forms) => {
    floorEnv = {
      PATH: process.env.PATH,
      FLOOR_DATABASE_URL: stage.runtimeUrl,
      FLOOR_POOL_MAX: String(POOL_MAX),
      ...(setConfig ? { FLOOR_SET_CONFIG: JSON.stringify(setConfig) } : {}),
      ...(forms ? { FLOOR_STATEMENTS: JSON.stringify(forms) } : {}),
    };
    return start('floor', 'floor-server.js', floorEnv);
  });
  // The same requests and statements on NestJS (Express, Fastify) + MikroORM or pg (bench/stack-floor.js).
  const stacks = {};
  for (const st of STACKS) {
    stacks[st.letter] = await start(st.name, 'stack-floor.js', stackFloorEnv(floorEnv, st));
  }
  return { floor, stacks, startStackFloor: (st, name, nodeArgs) => startStackFloor(run, floorEnv, st, name, nodeArgs) };
}

const stackFloorEnv = (floorEnv, st) => ({ ...floorEnv, STACK_FLOOR_DRIVER: st.driver, STACK_FLOOR_ADAPTER: st.adapter });

/** One more process of the stack floor `st`, with extra node options (the memory phase's). */
const startStackFloor = (run, floorEnv, st, name, nodeArgs) => startFloorProcess(run, name, 'stack-floor.js', stackFloorEnv(floorEnv, st), nodeArgs);

async function startFloorProcess(run, name, script, env, nodeArgs) {
  const f = await startProcess({ name, args: [join(__dirname, '..', script)], env, logFile: join(run.tmpRoot, `${name}.log`), readyPath: '/health', nodeArgs });
  run.defer(() => f.stop());
  return f;
}

module.exports = { startFloors };
