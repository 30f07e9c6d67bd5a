import { Client } from 'pg';

/** The NOLOGIN role that migration 000003 grants the runtime's privileges to. */
export const RUNTIME_GROUP_ROLE = 'nest_rls_runtime';

const RETRYABLE = new Set(['XX000', '23505', '42710', '40001', '40P01']);

/**
 * Makes sure the application's login role exists, has the configured password and is a member of
 * `nest_rls_runtime` — and refuses to go on if it could bypass RLS (superuser, BYPASSRLS, or an
 * owner of tables). Runs as the owner; every value is passed as a parameter and quoted by the
 * server (`format('%I', '%L')`), never spliced into SQL text by us.
 */
export async function ensureRuntimeRole(ownerUrl: string, runtimeUrl: string, user: string, password: string): Promise<void> {
  if (!(await canLogIn(runtimeUrl))) {
    await withOwner(ownerUrl, async (owner) => {
      for (let attempt = 1; ; attempt++) {
        try {
          const exists = await owner.query('select 1 from pg_roles where rolname = $1', [user]);
          const template = exists.rowCount
            ? 'ALTER ROLE %I WITH LOGIN PASSWORD %L'
            : 'CREATE ROLE %I WITH LOGIN PASSWORD %L NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE INHERIT';
          const { rows } = await owner.query<{ sql: string }>(`select format('${template}', $1::text, $2::text) as sql`, [
            user,
            password,
          ]);
          await owner.query(rows[0].sql);
          break;
        } catch (err) {
          if (attempt >= 5 || !RETRYABLE.has((err as { code?: string }).code ?? '')) throw err;
          await new Promise((r) => setTimeout(r, 50 * attempt));
        }
      }
    });
  }
  await withOwner(ownerUrl, async (owner) => {
    const { rows } = await owner.query<{ rolsuper: boolean; rolbypassrls: boolean; member: boolean; owned: number }>(
      `select r.rolsuper, r.rolbypassrls,
              pg_has_role(r.oid, $2, 'MEMBER') as member,
              (select count(*)::int from pg_class c where c.relowner = r.oid and c.relnamespace = 'public'::regnamespace) as owned
         from pg_roles r where r.rolname = $1`,
      [user, RUNTIME_GROUP_ROLE],
    );
    const role = rows[0];
    if (!role) throw new Error(`DATABASE_APP_USER "${user}" does not exist and could not be created`);
    if (role.rolsuper || role.rolbypassrls || role.owned > 0) {
      throw new Error(
        `DATABASE_APP_USER "${user}" is a superuser, has BYPASSRLS or owns tables: Row Level Security would not apply to it. Use a dedicated role.`,
      );
    }
    if (!role.member) {
      const { rows: grant } = await owner.query<{ sql: string }>(`select format('GRANT %I TO %I', $1::text, $2::text) as sql`, [
        RUNTIME_GROUP_ROLE,
        user,
      ]);
      for (let attempt = 1; ; attempt++) {
        try {
          await owner.query(grant[0].sql);
          break;
        } catch (err) {
          if (attempt >= 5 || !RETRYABLE.has((err as { code?: string }).code ?? '')) throw err;
          await new Promise((r) => setTimeout(r, 50 * attempt));
        }
      }
    }
  });
}

async function canLogIn(url: string): Promise<boolean> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function withOwner<T>(ownerUrl: string, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: ownerUrl, connectionTimeoutMillis: 10_000 });
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
