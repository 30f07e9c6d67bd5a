'use strict';
// Phase 1: the small table ("1k rows"): seeding, the bench users' sign-ins, the floors, then S1, S2
// and S4 against the floor and the stack floors, and S3 against bcrypt alone.
const bcrypt = require('bcrypt');
const { signInBenchUsers } = require('../lib/client');
const { withClient } = require('../lib/database');
const { measure, warmUpProcesses } = require('../lib/measure');
const { BENCH_PASSWORD, S3_EMAIL, S3_PASSWORD, SEED_COST } = require('../lib/params');
const { scenarios } = require('../lib/scenarios');
const seed = require('../lib/seed');
const { STACKS } = require('../lib/stacks');
const { log } = require('../lib/util');
const { startFloors } = require('./floors');

/** The seeded users' password hash (cost 4), for the large phase's users too. */
async function seedSmall(P, db) {
  log(`seeding ${P.small.users} users × ${P.small.perUser} sessions`);
  const pw = await bcrypt.hash(BENCH_PASSWORD, SEED_COST);
  const s3 = await bcrypt.hash(S3_PASSWORD, P.bcryptCost);
  await withClient(db.ownerUrl, async (c) => {
    await seed.seedUsers(c, { from: 1, to: P.small.users, passwordHash: pw });
    await c.query(
      `insert into users (id, email, password_hash, display_name) values (md5('nra-bench-s3')::uuid, $1, $2, 'S3 (cost ${P.bcryptCost})')`,
      [S3_EMAIL, s3],
    );
    await seed.seedLiveSessions(c, { from: 1, to: P.small.users, perUser: P.small.perUser });
    await seed.settle(c);
  });
  return pw;
}

const phaseCounts = (db) => withClient(db.ownerUrl, (c) => seed.counts(c));

/**
 * Seeds, signs in, starts the floors; returns what the later phases use: { pw, users, floor, stacks,
 * sc } (the scenarios at this size).
 */
async function startSmall(run, stage) {
  const { P } = run;
  const pw = await seedSmall(P, stage.db);
  const users = await signInBenchUsers(P, stage.svc, Array.from({ length: Math.max(P.conns, P.memConns) }, (_, i) => i + 1));
  // Nothing else may talk to the database under the same application_name while statements are logged.
  await stage.svcWarnStarting;
  const { floor, stacks, startStackFloor } = await startFloors(run, stage);
  run.results.phases.small = await phaseCounts(stage.db);
  log(`small phase: ${run.results.phases.small.sessions} sessions, ${run.results.phases.small.users} users`);
  return { pw, users, floor, stacks, startStackFloor, sc: scenarios(P, stage.svc, floor, users, stacks) };
}

async function measureSmall(run, sc) {
  const pairs = run.results.pairs;
  const stackFloors = (n) => STACKS.map((st) => `${st.letter}${n}`);
  await warmUpProcesses(run, sc, [1, 2, 4].flatMap((n) => [`S${n}`, `F${n}`, ...stackFloors(n)]));
  pairs.S1 = await measure(run, '1k', sc, 'S1', 'F1', { also: stackFloors(1) });
  pairs.S2 = await measure(run, '1k', sc, 'S2', 'F2', { also: stackFloors(2) });
  pairs.S4 = await measure(run, '1k', sc, 'S4', 'F4', { also: stackFloors(4) });
  pairs.S3 = await measure(run, '1k', sc, 'S3', 'B3', { duration: run.P.s3Duration, warmup: run.P.s3Warmup });
}

module.exports = { startSmall, measureSmall, phaseCounts };
