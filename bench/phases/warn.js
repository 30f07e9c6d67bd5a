'use strict';
// Phase 5: the LOG_LEVEL=warn variant (a second service process, started at set-up) at the large
// size, paired with the floor again so the ratio compares runs made under the same conditions.
const { measure } = require('../lib/measure');
const { scenarios } = require('../lib/scenarios');
const { log } = require('../lib/util');

async function warnPhase(run, stage, floor, large) {
  log('LOG_LEVEL=warn variant (second service process)');
  const svcWarn = await stage.svcWarnStarting;
  const scWarn = scenarios(run.P, svcWarn, floor, large.users);
  run.results.variants.S1warn = await measure(run, '1M warn', { ...scWarn, F1: large.sc.F1 }, 'S1', 'F1');
  run.results.variants.S2warn = await measure(run, '1M warn', { ...scWarn, F2: large.sc.F2 }, 'S2', 'F2');
}

module.exports = { warnPhase };
