import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describeSchema, diffSchemas, SchemaDifference, TableDescription } from './support/schema';
import { createTestDatabase, TestDatabase } from './support/test-database';

/** The specification: the repository is checked out next to a `shared/` folder holding the seed. */
const SEED_PATH = resolve(__dirname, '../../shared/seed/000002_add_sessions.up.sql');
const MIGRATION_PATH = resolve(__dirname, '../migrations/000002_add_sessions.up.sql');
/** SHA-256 of the seed as specified, so the migration is still pinned where `shared/` is absent. */
const SEED_SHA256 = '71950f4e1cac9cbf209f5cc8da7f95550c4916fc77e5bb37b6507517aaf3fc5a';

const SEED_POLICY_EXPR = "(user_id = (current_setting('app.current_user_id'::text, true))::uuid)";
const HARDENED_POLICY_EXPR = "(user_id = (NULLIF(current_setting('app.current_user_id'::text, true), ''::text))::uuid)";

/** Grants on `sessions` added by 000003 (runtime), 000004 (purge door) and 000007 (admin doors); the seed grants nothing. */
const HARDENING_GRANTS = [
  'nest_rls_runtime SELECT',
  'nest_rls_runtime INSERT',
  'nest_rls_runtime DELETE',
  ...['refresh_token_hash', 'device_name', 'expires_at', 'is_revoked', 'revoked_at', 'revoked_reason', 'last_used_at'].map(
    (column) => `nest_rls_runtime UPDATE(${column})`,
  ),
  // 000006: each rotation stores the refreshing client's user agent (a grace replay is compared with it).
  'nest_rls_runtime UPDATE(user_agent)',
  'nest_rls_definer SELECT(id)',
  'nest_rls_definer SELECT(expires_at)',
  'nest_rls_definer SELECT(revoked_at)',
  'nest_rls_definer UPDATE(revoked_at)',
  'nest_rls_definer DELETE',
  // 000007: the admin doors read sessions (never refresh_token_hash) and revoke them.
  ...['user_id', 'user_agent', 'ip_address', 'device_name', 'device_type', 'is_revoked', 'created_at', 'last_used_at'].map(
    (column) => `nest_rls_definer SELECT(${column})`,
  ),
  'nest_rls_definer UPDATE(is_revoked)',
  'nest_rls_definer UPDATE(revoked_reason)',
];

/**
 * The only ways the migrated `sessions` may differ from the seed's: the documented hardening of
 * migrations 000003, 000004, 000006 and 000007 (grants only). Anything else — and any of these going missing — fails the test.
 */
function allowedDifferences(seed: TableDescription): (SchemaDifference & { why: string })[] {
  return [
    {
      why: '000003: FORCE ROW LEVEL SECURITY, so the owner is filtered too',
      path: 'sessions.forceRowSecurity',
      left: false,
      right: true,
    },
    {
      why: "000003/000004/000006/000007: least-privilege grants to nest_rls_runtime and nest_rls_definer",
      path: 'sessions.grants',
      left: seed.grants,
      right: [...seed.grants, ...HARDENING_GRANTS.map((g) => `${g} (by ${seed.owner})`)].sort(),
    },
    {
      why: '000004: one expression index for the purge of ended sessions',
      path: 'sessions.indexes.idx_sessions_ended_at',
      left: undefined,
      right: { def: 'CREATE INDEX idx_sessions_ended_at ON public.sessions USING btree (LEAST(expires_at, revoked_at))', comment: null },
    },
    {
      why: "000003: nullif(..., '') so a pooled connection sees no rows instead of raising",
      path: 'sessions.policies.sessions_user_isolation.qual',
      left: SEED_POLICY_EXPR,
      right: HARDENED_POLICY_EXPR,
    },
    {
      why: "000003: nullif(..., '') in WITH CHECK too",
      path: 'sessions.policies.sessions_user_isolation.withCheck',
      left: SEED_POLICY_EXPR,
      right: HARDENED_POLICY_EXPR,
    },
  ];
}

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');
const byPath = (a: { path: string }, b: { path: string }): number => a.path.localeCompare(b.path);

describe('sessions table fidelity to the seed', () => {
  const seedPresent = existsSync(SEED_PATH);
  let scratch: TestDatabase;
  let migrated: TestDatabase;
  let fromSeed: TableDescription;
  let fromMigrations: TableDescription;

  beforeAll(async () => {
    if (!seedPresent) {
      // Without shared/ the seed cannot be read; the migration file stands in for it, and its bytes
      // are checked against the seed's pinned SHA-256 instead of the seed file itself.
      console.warn(`${SEED_PATH} is missing: applying ${MIGRATION_PATH} as the seed (pinned by SHA-256)`);
    }
    const seedSql = readFileSync(seedPresent ? SEED_PATH : MIGRATION_PATH, 'utf8');
    [scratch, migrated] = await Promise.all([createTestDatabase({ migrate: false }), createTestDatabase()]);
    fromSeed = await scratch.asOwner(async (c) => {
      await c.query(`create extension if not exists "uuid-ossp"`);
      await c.query('create table users (id uuid primary key)');
      await c.query(seedSql);
      return (await describeSchema(c, { tables: ['sessions'] })).tables.sessions;
    });
    fromMigrations = await migrated.asOwner(async (c) => (await describeSchema(c, { tables: ['sessions'] })).tables.sessions);
  });

  afterAll(async () => {
    await Promise.all([scratch?.drop(), migrated?.drop()]);
  });

  it('migrations/000002_add_sessions.up.sql is byte-identical to the seed', () => {
    const migration = readFileSync(MIGRATION_PATH);
    expect(sha256(migration)).toBe(SEED_SHA256);
    if (seedPresent) {
      const seed = readFileSync(SEED_PATH);
      expect(migration.length).toBe(seed.length);
      expect(migration.equals(seed)).toBe(true);
    }
  });

  it("the seed builds the specified table: 13 columns, 5 indexes besides the key, 2 checks, the policy and every comment", () => {
    expect(Object.keys(fromSeed.columns)).toEqual([
      'id',
      'user_id',
      'refresh_token_hash',
      'user_agent',
      'ip_address',
      'device_name',
      'device_type',
      'expires_at',
      'is_revoked',
      'revoked_at',
      'revoked_reason',
      'created_at',
      'last_used_at',
    ]);
    expect(Object.values(fromSeed.columns).every((c) => typeof c.comment === 'string' && c.comment.length > 0)).toBe(true);
    expect(Object.keys(fromSeed.indexes).sort()).toEqual(
      ['idx_sessions_active', 'idx_sessions_expires_at', 'idx_sessions_ip_address', 'idx_sessions_last_used', 'idx_sessions_user_id', 'sessions_pkey'].sort(),
    );
    expect(fromSeed.constraints.sessions_valid_expiry.def).toBe('CHECK ((expires_at > created_at))');
    expect(fromSeed.constraints.sessions_valid_revocation.def).toBe('CHECK (((revoked_at IS NULL) OR (revoked_at >= created_at)))');
    expect(fromSeed.constraints.sessions_user_id_fkey.def).toBe('FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE');
    expect(fromSeed.policies).toEqual({
      sessions_user_isolation: {
        cmd: 'ALL',
        permissive: 'PERMISSIVE',
        roles: ['public'],
        qual: SEED_POLICY_EXPR,
        withCheck: SEED_POLICY_EXPR,
        comment: 'Restricts all session operations to the authenticated user (no tenant-level RLS).',
      },
    });
    expect(fromSeed.comment).toBe('User authentication sessions with refresh token hashes. Exact match to Go models.Session (tenant-less).');
    expect(fromSeed.rowSecurity).toBe(true);
  });

  it('the migrated sessions table differs from the seed only by the documented hardening of 000003/000004/000006', () => {
    const differences = diffSchemas(fromSeed, fromMigrations, 'sessions').sort(byPath);
    const allowed = allowedDifferences(fromSeed)
      .map(({ path, left, right }) => ({ path, left, right }))
      .sort(byPath);
    expect(differences).toEqual(allowed);
  });

  it('columns, constraints, comments, triggers, ownership and RLS enablement are exactly the seed’s', () => {
    // Redundant with the allow-list test above, but names the parts that must never differ at all.
    expect(fromMigrations.columns).toEqual(fromSeed.columns);
    expect(fromMigrations.constraints).toEqual(fromSeed.constraints);
    expect(fromMigrations.comment).toBe(fromSeed.comment);
    expect(fromMigrations.triggers).toEqual(fromSeed.triggers);
    expect(fromMigrations.owner).toBe(fromSeed.owner);
    expect(fromMigrations.rowSecurity).toBe(true);
    const { qual: _q, withCheck: _w, ...seedPolicy } = fromSeed.policies.sessions_user_isolation;
    const { qual: _mq, withCheck: _mw, ...migratedPolicy } = fromMigrations.policies.sessions_user_isolation;
    expect(migratedPolicy).toEqual(seedPolicy);
    const { idx_sessions_ended_at: _extra, ...migratedIndexes } = fromMigrations.indexes;
    expect(migratedIndexes).toEqual(fromSeed.indexes);
  });
});
