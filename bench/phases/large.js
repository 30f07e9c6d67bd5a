'use strict';
// Phase 2: the large table ("1M rows"): S1 and S2 again, against the floor, with bench users spread
// over the whole user range.
const { signInBenchUsers } = require('../lib/client');
const { withClient } = require('../lib/database');
const { measure } = require('../lib/measure');
const { scenarios } = require('../lib/scenarios');
const seed = require('../lib/seed');
const { log } = require('../lib/util');
const { phaseCounts } = require('./small');

async function seedLarge(run, db, pw) {
  const { P } = run;
  const from = P.small.users + 1;
  log(`seeding users ${from}..${P.large.users} × ${P.large.perUser} sessions`);
  const t = Date.now();
  await withClient(db.ownerUrl, async (c) => {
    await seed.seedUsers(c, { from, to: P.large.users, passwordHash: pw });
    await seed.seedLiveSessions(c, { from, to: P.large.users, perUser: P.large.perUser });
    log(`  inserted in ${((Date.now() - t) / 1000).toFixed(1)} s; vacuum, analyze, checkpoint`);
    await seed.settle(c);
  });
  run.results.seedLargeSeconds = (Date.now() - t) / 1000;
}

/** `count` users of the large phase's range, evenly spread, signed in. */
function signInLargeUsers(run, svc, count) {
  const { P } = run;
  const span = P.large.users - P.small.users;
  return signInBenchUsers(P, svc, Array.from({ length: count }, (_, i) => P.small.users + 1 + Math.floor((i * span) / count)));
}

/** Seeds, signs in and measures; returns { users, sc } for the phases after it. */
async function largePhase(run, stage, small) {
  const { P } = run;
  await seedLarge(run, stage.db, small.pw);
  const users = await signInLargeUsers(run, stage.svc, Math.max(P.conns, P.memConns));
  run.results.phases.large = await phaseCounts(stage.db);
  log(`large phase: ${run.results.phases.large.sessions} sessions, ${run.results.phases.large.users} users`);
  const sc = scenarios(P, stage.svc, small.floor, users);
  run.results.pairs.S1large = await measure(run, '1M', sc, 'S1', 'F1');
  run.results.pairs.S2large = await measure(run, '1M', sc, 'S2', 'F2');
  return { users, sc };
}

module.exports = { largePhase, seedLarge, signInLargeUsers };
