import { listSqlMigrations, MIGRATIONS_TABLE, runMigrations } from '../src/database/migrations';
import { describeSchema, SchemaDescription } from './support/schema';
import { createTestDatabase, TestDatabase } from './support/test-database';

const MIGRATIONS = listSqlMigrations().map((m) => m.name);
const PROJECT_ROLES = ['nest_rls_runtime', 'nest_rls_definer'];
/** The migrator's bookkeeping table and the sequence behind its serial id. */
const BOOKKEEPING = [MIGRATIONS_TABLE, `${MIGRATIONS_TABLE}_id_seq`];

/** The project's schema without the migrator's own bookkeeping table (and its id sequence). */
function withoutBookkeeping(schema: SchemaDescription): SchemaDescription {
  const tables = Object.fromEntries(Object.entries(schema.tables).filter(([name]) => !BOOKKEEPING.includes(name)));
  return { ...schema, tables };
}

/** Privileges or ownerships this database still records for the project's cluster-wide roles. */
async function projectRoleDependencies(db: TestDatabase): Promise<string[]> {
  return db.asOwner(async (c) => {
    const { rows } = await c.query<{ dep: string }>(
      `select r.rolname || ' ' || d.deptype::text || ' ' || pg_describe_object(d.classid, d.objid, d.objsubid) as dep
         from pg_shdepend d join pg_roles r on r.oid = d.refobjid
        where d.dbid = (select oid from pg_database where datname = current_database())
          and d.refclassid = 'pg_authid'::regclass and r.rolname = any($1::text[])
        order by 1`,
      [PROJECT_ROLES],
    );
    return rows.map((r) => r.dep);
  });
}

describe('SQL migrations round trip (up, down, up)', () => {
  const databases: TestDatabase[] = [];
  const freshDatabase = async (): Promise<TestDatabase> => {
    const db = await createTestDatabase({ migrate: false });
    databases.push(db);
    return db;
  };
  const describeDb = (db: TestDatabase): Promise<SchemaDescription> => db.asOwner((c) => describeSchema(c));

  // The roles are cluster-wide and 000003's down drops them when no database uses them any more.
  // Other test files share this server, so a migrated database held for the whole file keeps them
  // in use: the round trip never drops a role from under a parallel test, whatever else is running.
  let anchor: TestDatabase;
  beforeAll(async () => {
    anchor = await createTestDatabase();
    databases.push(anchor);
  });

  afterAll(async () => {
    await Promise.all(databases.map((db) => db.drop()));
  });

  const projectRolesExisting = (): Promise<string[]> =>
    anchor.asOwner(async (c) => (await c.query('select rolname from pg_roles where rolname = any($1::text[]) order by 1', [PROJECT_ROLES])).rows.map((r) => r.rolname));

  it('has the migrations the round trip is written for', () => {
    expect(MIGRATIONS).toEqual(['000001_create_users', '000002_add_sessions', '000003_harden_rls', '000004_session_purge', '000005_user_deactivation', '000006_security_review', '000007_admin_and_audit']);
  });

  it('down --all removes every table, function, policy, extension and grant the migrations created (keeping the shared roles another database still uses), and up rebuilds an identical schema', async () => {
    const db = await freshDatabase();
    const before = await describeDb(db);

    const up = await runMigrations(db.ownerUrl, 'up');
    expect(up.ran).toEqual(MIGRATIONS);
    const first = await describeDb(db);
    // The capture must actually contain the project, or comparing two captures proves nothing.
    expect(Object.keys(first.tables).sort()).toEqual([...BOOKKEEPING, 'auth_events', 'sessions', 'users'].sort());
    expect(Object.keys(first.functions).sort()).toEqual([
      'admin_caller()',
      'admin_check_limit(integer)',
      'admin_check_reason(text)',
      'admin_list_auth_events(uuid,timestamp with time zone,uuid,integer)',
      'admin_list_sessions_by_ip(inet,timestamp with time zone,inet,uuid,integer)',
      'admin_list_user_sessions(uuid,timestamp with time zone,timestamp with time zone,uuid,integer)',
      'admin_revoke_session(uuid,text,timestamp with time zone,inet,text,text)',
      'admin_revoke_sessions_by_ip(inet,text,timestamp with time zone,inet,text,text)',
      'admin_revoke_user_sessions(uuid,text,timestamp with time zone,inet,text,text)',
      'admin_set_user_active(uuid,boolean,timestamp with time zone,inet,text,text)',
      'auth_events_refuse_update()',
      'auth_find_login(text)',
      'auth_is_admin()',
      'purge_ended_sessions(interval,integer)',
      'purge_old_auth_events(interval,integer)',
      'users_revoke_sessions_on_deactivation()',
      'users_set_role(text,text)',
      'users_set_updated_at()',
    ]);
    expect(Object.keys(first.tables.sessions.policies)).toEqual(['sessions_user_isolation']);
    expect(Object.keys(first.tables.users.policies)).toEqual(['users_self_isolation']);
    expect(Object.keys(first.tables.auth_events.policies).sort()).toEqual(['auth_events_own_insert', 'auth_events_own_read']);
    expect(Object.keys(first.extensions)).toEqual(['uuid-ossp']);
    expect(await projectRoleDependencies(db)).not.toEqual([]);

    const down = await runMigrations(db.ownerUrl, 'down', { all: true });
    expect(down.ran).toEqual([...MIGRATIONS].reverse());
    expect(down.executed).toEqual([]);

    const empty = await describeDb(db);
    expect(Object.keys(empty.tables).sort()).toEqual([...BOOKKEEPING].sort());
    expect(empty.functions).toEqual({});
    expect(empty.types).toEqual({});
    expect(empty.extensions).toEqual({});
    expect(empty.schema).toEqual(before.schema);
    const leftovers = await db.asOwner(async (c) => {
      const { rows } = await c.query<{ kind: string; name: string }>(
        `select 'policy' as kind, policyname::text as name from pg_policies where schemaname = 'public'
         union all select 'relation', relname::text from pg_class
          where relnamespace = 'public'::regnamespace and not (relname = any($1::text[]))
         union all select 'function', proname::text from pg_proc where pronamespace = 'public'::regnamespace
         union all select 'type', typname::text from pg_type
          where typnamespace = 'public'::regnamespace and not (typname = any($2::text[]))
         order by 1, 2`,
        [
          [...BOOKKEEPING, `${MIGRATIONS_TABLE}_pkey`],
          [MIGRATIONS_TABLE, `_${MIGRATIONS_TABLE}`],
        ],
      );
      return rows;
    });
    expect(leftovers).toEqual([]);
    expect(await projectRoleDependencies(db)).toEqual([]);
    // 000003's down keeps the roles while another database (the anchor) still has grants to them.
    expect(await projectRolesExisting()).toEqual([...PROJECT_ROLES].sort());

    const again = await runMigrations(db.ownerUrl, 'up');
    expect(again.ran).toEqual(MIGRATIONS);
    expect(await describeDb(db)).toEqual(first);
  });

  it('steps down one migration at a time, each step leaving exactly the schema that migration started from', async () => {
    const db = await freshDatabase();

    const states: SchemaDescription[] = [withoutBookkeeping(await describeDb(db))];
    for (const name of MIGRATIONS) {
      const step = await runMigrations(db.ownerUrl, 'up', { to: name });
      expect(step.ran).toEqual([name]);
      states.push(withoutBookkeeping(await describeDb(db)));
    }
    // Every migration changes the schema, so "equal to the state before" is a real check.
    for (let i = 1; i < states.length; i++) expect(states[i]).not.toEqual(states[i - 1]);

    for (let i = MIGRATIONS.length - 1; i >= 0; i--) {
      const step = await runMigrations(db.ownerUrl, 'down');
      expect(step.ran).toEqual([MIGRATIONS[i]]);
      expect(step.executed).toEqual(MIGRATIONS.slice(0, i));
      expect(withoutBookkeeping(await describeDb(db))).toEqual(states[i]);
    }
    expect(await projectRoleDependencies(db)).toEqual([]);
  });
});
