import { Client } from 'pg';

/** The NOLOGIN role that migration 000003 grants the runtime's privileges to. */
export const RUNTIME_GROUP_ROLE = 'nest_rls_runtime';

/**
 * The comment a runtime role created by the service carries, followed by the database's name. Roles
 * are shared by every database of a PostgreSQL server; the mark says which database's service may
 * reset the role's password (see `ensureRuntimeRole`).
 */
export const RUNTIME_ROLE_MARK = 'nest-rls-auth runtime role for database ';

const RETRYABLE = new Set(['XX000', '23505', '42710', '40001', '40P01']);

/**
 * The service's tables: by name as the connection resolves them (its search_path, like the ORM's
 * unqualified queries), and wherever they are, by the policies the migrations put on them.
 */
const APP_TABLES = `select c.oid, c.relowner from pg_catalog.pg_class c
   where c.oid in (pg_catalog.to_regclass('users'), pg_catalog.to_regclass('sessions'), pg_catalog.to_regclass('auth_events'))
      or c.oid in (select p.polrelid from pg_catalog.pg_policy p where p.polname in ('users_self_isolation', 'sessions_user_isolation', 'auth_events_own_read'))`;

/**
 * One row per way the target roles can get past Row Level Security, plus one `connected` row that
 * names the connection's current_user (`role`) and session_user (`subject`). `targets` is SQL we
 * write ourselves (`current_user, session_user`, or the placeholder `$1`), never a value.
 *
 *   superuser / bypassrls   the role itself has the attribute (a superuser's others are not listed);
 *   createrole              it can create roles and (PostgreSQL 15 and older) grant itself any
 *                           non-superuser role, nest_rls_definer (BYPASSRLS) included;
 *   member                  it is a member of a role that is superuser, BYPASSRLS or CREATEROLE
 *                           (`subject`; attributes in `detail`): those attributes are never
 *                           inherited, but a member that may SET ROLE gets them ('MEMBER' covers
 *                           SET ROLE on every version);
 *   owner                   it owns one of the service's tables (`subject`), itself or through a
 *                           role it is a member of (`detail`, the owner): ownership is used through
 *                           membership, and an owner can turn RLS off or drop the policies.
 */
function bypassFindingsSql(targets: string): string {
  return `with target as (
  select r.oid, r.rolname, r.rolsuper, r.rolbypassrls, r.rolcreaterole from pg_catalog.pg_roles r where r.rolname in (${targets})
), app_tables as (${APP_TABLES})
select current_user::text as role, 'connected'::text as kind, session_user::text as subject, null::text as detail
union all
select t.rolname::text, 'superuser', null, null from target t where t.rolsuper
union all
select t.rolname::text, 'bypassrls', null, null from target t where t.rolbypassrls and not t.rolsuper
union all
select t.rolname::text, 'createrole', null, null from target t where t.rolcreaterole and not t.rolsuper
union all
select t.rolname::text, 'member', p.rolname::text,
       concat_ws(',', case when p.rolsuper then 'superuser' end, case when p.rolbypassrls then 'BYPASSRLS' end,
                 case when p.rolcreaterole then 'CREATEROLE' end)
  from target t join pg_catalog.pg_roles p
    on p.oid <> t.oid and (p.rolsuper or p.rolbypassrls or p.rolcreaterole) and pg_catalog.pg_has_role(t.oid, p.oid, 'MEMBER')
 where not t.rolsuper
union all
select t.rolname::text, 'owner', a.oid::regclass::text, pg_catalog.pg_get_userbyid(a.relowner)::text
  from target t join app_tables a on pg_catalog.pg_has_role(t.oid, a.relowner, 'MEMBER')
 where not t.rolsuper`;
}

/** Run over the runtime connection itself: checks the roles it really is (current_user and session_user). No parameters. */
export const RUNTIME_ROLE_CHECK_SQL = bypassFindingsSql('current_user, session_user');

/** The same check for a role named by `$1`, run as the owner before touching that role. */
const NAMED_ROLE_CHECK_SQL = bypassFindingsSql('$1');

/** A row of `RUNTIME_ROLE_CHECK_SQL`. */
export interface RlsBypassRow {
  role: string;
  kind: string;
  subject: string | null;
  detail: string | null;
}

export interface RuntimeRoleReport {
  /** The connection's current_user: the role its queries run as. */
  role: string;
  /** The connection's session_user (the login role); differs from `role` after SET ROLE (e.g. `options=-c role=…`). */
  loginRole: string;
  /** How it could get past Row Level Security; empty when it cannot. */
  problems: string[];
}

/** Turns the rows of `RUNTIME_ROLE_CHECK_SQL` into a report: who the connection is, and what is wrong with it. */
export function describeRlsBypass(rows: readonly RlsBypassRow[]): RuntimeRoleReport {
  const connected = rows.find((r) => r.kind === 'connected');
  const role = connected?.role ?? '(unknown)';
  return { role, loginRole: connected?.subject ?? role, problems: rows.filter((r) => r.kind !== 'connected').map(describeFinding) };
}

function describeFinding(row: RlsBypassRow): string {
  const who = `"${row.role}"`;
  switch (row.kind) {
    case 'superuser':
      return `${who} is a superuser`;
    case 'bypassrls':
      return `${who} has BYPASSRLS`;
    case 'createrole':
      return `${who} has CREATEROLE (it can grant itself a role that bypasses RLS)`;
    case 'member': {
      const what = (row.detail ?? '')
        .split(',')
        .filter(Boolean)
        .map((a) => (a === 'superuser' ? 'is a superuser' : `has ${a}`))
        .join(' and ');
      return `${who} is a member of "${row.subject}", which ${what}`;
    }
    case 'owner':
      return row.detail === row.role
        ? `${who} owns table ${row.subject}`
        : `${who} owns table ${row.subject} through its membership in "${row.detail}"`;
    default:
      return `${who}: ${row.kind} ${row.subject ?? ''}`.trim();
  }
}

/** Runs one SQL statement (no parameters) over a connection and returns its rows. */
export type RunSql = (sql: string) => Promise<readonly unknown[]>;

/**
 * Checks the role a connection really is — not a configured name — for ways past Row Level
 * Security: superuser, BYPASSRLS, CREATEROLE, membership in a role with one of those, or ownership
 * (also through membership) of the service's tables. Runs one query, as that connection.
 *
 *   await checkRuntimeRole(async (sql) => (await client.query(sql)).rows)        // pg
 *   await checkRuntimeRole((sql) => em.getConnection().execute(sql, [], 'all'))  // MikroORM
 */
export async function checkRuntimeRole(run: RunSql): Promise<RuntimeRoleReport> {
  return describeRlsBypass((await run(RUNTIME_ROLE_CHECK_SQL)) as RlsBypassRow[]);
}

/** What to do, for `prepareDatabase` (the standalone service and its CLIs). */
export const SERVICE_ROLE_REMEDY =
  'Connect as a dedicated login role that is NOSUPERUSER, NOBYPASSRLS and NOCREATEROLE, owns none of the tables and is not a member of a role that is or does: ' +
  'leave DATABASE_APP_URL unset to have the service create one from DATABASE_APP_USER and DATABASE_APP_PASSWORD, or point DATABASE_APP_URL at such a role.';

/** What to do, for AuthModule's start-up check of its ORM connection. */
export const MODULE_ROLE_REMEDY =
  "Connect the ORM (AuthModule's `database.url`, or with `useHostOrm: true` your own MikroOrmModule) as a dedicated login role that is NOSUPERUSER, NOBYPASSRLS and NOCREATEROLE, " +
  `owns none of the tables and is not a member of a role that is or does, and is a member of ${RUNTIME_GROUP_ROLE} (prepareDatabase() or ensureRuntimeRole() sets one up).`;

/** Thrown when the runtime connection's role could get past Row Level Security. */
export class UnsafeRuntimeRoleError extends Error {
  override readonly name = 'UnsafeRuntimeRoleError';

  constructor(
    readonly report: RuntimeRoleReport,
    remedy: string,
  ) {
    const who = report.loginRole === report.role ? `"${report.role}"` : `"${report.role}" (logged in as "${report.loginRole}")`;
    super(
      `Refusing to start: the database role the runtime connection uses, ${who}, can bypass Row Level Security, ` +
        `so users could see and change each other's sessions and accounts: ${report.problems.join('; ')}. ${remedy}`,
    );
  }
}

/**
 * Makes sure the application's login role can log in, is safe, and is a member of
 * `nest_rls_runtime`. Runs the owner's statements with every value passed as a parameter and quoted
 * by the server (`format('%I', '%L')`), never spliced into SQL text by us.
 *
 * 1. Logs in at `runtimeUrl`. When that fails and `runtimeUrl` logs in as `user`, the role is set up
 *    as the owner: created (LOGIN, NOSUPERUSER, NOBYPASSRLS, NOCREATEROLE, marked with
 *    `COMMENT ON ROLE … IS 'nest-rls-auth runtime role for database <db>'`) when missing; when it
 *    exists, it is first checked by name and refused, untouched, if it could bypass RLS, and its
 *    password is reset only when its mark names this database — otherwise it belongs to someone
 *    else (roles are cluster-wide) and this refuses, untouched.
 * 2. Checks the role the runtime connection really is (`checkRuntimeRole`) and refuses a role that
 *    could bypass RLS, naming it.
 * 3. Grants `nest_rls_runtime` to that role when missing (and checks it again), and marks a
 *    `user` role with no comment at all (from before the marks) as this database's.
 */
export async function ensureRuntimeRole(ownerUrl: string, runtimeUrl: string, user: string, password: string): Promise<void> {
  let runtime = await connect(runtimeUrl, 5000);
  if (runtime instanceof Error) {
    const loginName = decodeURIComponent(new URL(runtimeUrl).username);
    if (loginName !== user) {
      throw new Error(
        `Cannot log in as the runtime role "${loginName || '(default user)'}" (${describeUrl(runtimeUrl)}): ${runtime.message}. ` +
          `That role is not DATABASE_APP_USER ("${user}"), so the service does not create it or set its password: fix DATABASE_APP_URL or the role.`,
      );
    }
    await withOwner(ownerUrl, (owner) => provisionRole(owner, user, password));
    runtime = await connect(runtimeUrl, 5000);
    if (runtime instanceof Error) {
      throw new Error(`Cannot log in as the runtime role "${user}" (${describeUrl(runtimeUrl)}) even with its password just set: ${runtime.message}`);
    }
  }
  const client = runtime;
  try {
    const run: RunSql = async (sql) => (await client.query(sql)).rows;
    let report = await checkRuntimeRole(run);
    if (report.problems.length) throw new UnsafeRuntimeRoleError(report, SERVICE_ROLE_REMEDY);
    const { rows } = await client.query<{ member: boolean; marked: boolean }>(
      `select coalesce((select pg_catalog.pg_has_role(current_user, g.oid, 'MEMBER') from pg_catalog.pg_roles g where g.rolname = $1), false) as member,
              pg_catalog.shobj_description(r.oid, 'pg_authid') is not null as marked
         from pg_catalog.pg_roles r where r.rolname = current_user`,
      [RUNTIME_GROUP_ROLE],
    );
    const state = rows[0];
    const mark = report.role === user && !state.marked;
    if (!state.member || mark) {
      await withOwner(ownerUrl, async (owner) => {
        if (!state.member) await runAsOwner(owner, `select format('GRANT %I TO %I', $1::text, $2::text) as sql`, [RUNTIME_GROUP_ROLE, report.role]);
        // Only a role with no comment at all: one with a comment of someone else's is left alone.
        if (mark) {
          await runAsOwner(
            owner,
            `select format('COMMENT ON ROLE %I IS %L', r.rolname, $2::text || current_database()) as sql
               from pg_catalog.pg_roles r where r.rolname = $1 and pg_catalog.shobj_description(r.oid, 'pg_authid') is null`,
            [report.role, RUNTIME_ROLE_MARK],
          );
        }
      });
      // The grant changed what the role is a member of: look again.
      report = await checkRuntimeRole(run);
      if (report.problems.length) throw new UnsafeRuntimeRoleError(report, SERVICE_ROLE_REMEDY);
    }
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Creates `user`, or resets its password when it is this database's runtime role (see ensureRuntimeRole). */
async function provisionRole(owner: Client, user: string, password: string): Promise<void> {
  await retrying(async () => {
    const { rows } = await owner.query<{ comment: string | null; db: string; mark: string; comment_sql: string }>(
      `select pg_catalog.shobj_description(r.oid, 'pg_authid') as comment, current_database() as db, $2::text || current_database() as mark,
              format('COMMENT ON ROLE %I IS %L', r.rolname, $2::text || current_database()) as comment_sql
         from pg_catalog.pg_roles r where r.rolname = $1`,
      [user, RUNTIME_ROLE_MARK],
    );
    if (!rows.length) {
      const { rows: sql } = await owner.query<{ create: string; comment: string }>(
        `select format('CREATE ROLE %I WITH LOGIN PASSWORD %L NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE INHERIT', $1::text, $2::text) as create,
                format('COMMENT ON ROLE %I IS %L', $1::text, $3::text || current_database()) as comment`,
        [user, password, RUNTIME_ROLE_MARK],
      );
      // One transaction: a concurrent start never sees the role without its mark.
      await owner.query('BEGIN');
      try {
        await owner.query(sql[0].create);
        await owner.query(sql[0].comment);
        await owner.query('COMMIT');
      } catch (err) {
        await owner.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
      return;
    }
    const existing = rows[0];
    const suggestion = suggestedRoleName(existing.db, user);
    const findings = await owner.query<RlsBypassRow>(NAMED_ROLE_CHECK_SQL, [user]);
    const problems = findings.rows.filter((r) => r.kind !== 'connected').map(describeFinding);
    if (problems.length) {
      throw new Error(
        `Refusing to start: DATABASE_APP_PASSWORD does not log in as DATABASE_APP_USER "${user}", and that existing role can bypass Row Level Security: ${problems.join('; ')}. ` +
          `Its password was left unchanged. Set DATABASE_APP_USER to a name of its own${suggestion}: the service creates a dedicated role.`,
      );
    }
    if (existing.comment !== existing.mark) {
      const comment = existing.comment === null ? 'it has no comment' : `its comment is ${JSON.stringify(existing.comment)}`;
      throw new Error(
        `Refusing to start: DATABASE_APP_PASSWORD does not log in as DATABASE_APP_USER "${user}", and that role exists but is not marked as the runtime role of database "${existing.db}" (${comment}). ` +
          `Roles are shared by all databases of a PostgreSQL server, so it may belong to another deployment; its password was left unchanged. ` +
          `Set DATABASE_APP_USER to a name of its own${suggestion}, or DATABASE_APP_PASSWORD to the role's password. ` +
          `If it is this deployment's role (created before nest-rls-auth marked its roles), mark it, as the owner, and start again: ${existing.comment_sql}`,
      );
    }
    await buildAndRun(owner, `select format('ALTER ROLE %I WITH LOGIN PASSWORD %L', $1::text, $2::text) as sql`, [user, password]);
  });
}

/** `, e.g. "nest_rls_app_<database>"`, or nothing when that is the name already in use. */
function suggestedRoleName(database: string, user: string): string {
  let name = `nest_rls_app_${database.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`.slice(0, 63);
  if (name === user) name = `${name.slice(0, 61)}_2`;
  return `, e.g. "${name}"`;
}

/** Builds a statement server-side (`select format(...) as sql`) and runs it, retrying races of concurrent starts. */
async function runAsOwner(owner: Client, builder: string, params: unknown[]): Promise<void> {
  await retrying(() => buildAndRun(owner, builder, params));
}

async function buildAndRun(owner: Client, builder: string, params: unknown[]): Promise<void> {
  const { rows } = await owner.query<{ sql: string }>(builder, params);
  for (const row of rows) await owner.query(row.sql);
}

/** Several instances starting together race on the same role rows; the losers try again. */
async function retrying(fn: () => Promise<void>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await fn();
      return;
    } catch (err) {
      if (attempt >= 5 || !RETRYABLE.has((err as { code?: string }).code ?? '')) throw err;
      await new Promise((r) => setTimeout(r, 50 * attempt));
    }
  }
}

async function connect(url: string, timeoutMs: number): Promise<Client | Error> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
  // A connection the server ends (shutdown, pg_terminate_backend) fails the query in flight or the
  // next one; without a listener the 'error' event would crash the process instead.
  client.on('error', () => undefined);
  try {
    await client.connect();
    return client;
  } catch (err) {
    await client.end().catch(() => undefined);
    return err instanceof Error ? err : new Error(String(err));
  }
}

async function withOwner<T>(ownerUrl: string, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: ownerUrl, connectionTimeoutMillis: 10_000 });
  client.on('error', () => undefined); // see connect()
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** `url` with another user and password (percent-encoded). */
export function withCredentials(url: string, user: string, password: string): string {
  const parsed = new URL(url);
  parsed.username = encodeURIComponent(user);
  parsed.password = encodeURIComponent(password);
  return parsed.toString();
}

/** Where a URL points, for logs: never the password. */
export function describeUrl(url: string): string {
  const u = new URL(url);
  return `${decodeURIComponent(u.username) || '(default user)'}@${u.hostname}:${u.port || '5432'}${u.pathname}`;
}
