'use strict';
// Phase 4: EXPLAIN (ANALYZE, BUFFERS) of every hot-path statement at the large size.
const { explainHotPaths } = require('../lib/explain');
const { log } = require('../lib/util');

async function plansPhase(run, stage, large) {
  const { results } = run;
  log('EXPLAIN (ANALYZE, BUFFERS) of the hot paths at the large size');
  results.explain = await explainHotPaths({
    ownerUrl: stage.db.ownerUrl,
    runtimeUrl: stage.runtimeUrl,
    user: large.users[0],
    setConfig: results.setConfig ?? undefined,
    // The service sends one UPDATE per refresh (no second one at the flush: src/sessions/sessions.service.ts).
  });
  results.explainCounts = results.phases.large;
}

module.exports = { plansPhase };
