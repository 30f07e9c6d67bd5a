import { Client } from 'pg';
import { createTestDatabase, TestDatabase, withClient } from './support/test-database';

/**
 * The IP lookup of GET / DELETE /admin/sessions?ip= runs inside SECURITY DEFINER functions; its plan
 * is read from the inside with auto_explain (nested statements, sent back as NOTICEs), as the bench's
 * EXPLAIN report does at 1M rows. Here 100k sessions, seeded with generate_series and ANALYZEd, are
 * enough for the planner to choose between the seed's idx_sessions_ip_address and a scan.
 */
const USERS = 100;
const SESSIONS_PER_USER = 1000;

async function explainCalls(ownerUrl: string, adminId: string, calls: string[]): Promise<string[]> {
  return withClient(ownerUrl, async (c: Client) => {
    const notices: string[] = [];
    c.on('notice', (n) => notices.push(n.message ?? ''));
    await c.query("LOAD 'auto_explain'");
    for (const s of ['auto_explain.log_min_duration = 0', 'auto_explain.log_nested_statements = on', "auto_explain.log_level = 'notice'"]) {
      await c.query(`SET ${s}`);
    }
    const plans: string[] = [];
    for (const sql of calls) {
      await c.query('begin');
      await c.query("select set_config('app.current_user_id', $1, true)", [adminId]);
      notices.length = 0;
      await c.query(sql);
      await c.query('rollback');
      // The plan of the statement inside the function (FROM / UPDATE public.sessions), not the outer call's.
      plans.push(notices.filter((n) => n.includes('public.sessions')).join('\n\n'));
    }
    return plans;
  });
}

describe('the admin IP lookup uses idx_sessions_ip_address', () => {
  let db: TestDatabase;
  let adminId: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    adminId = await db.asOwner(async (c) => {
      await c.query(
        `insert into users (email, password_hash, role)
         select 'plan-' || u || '@example.test', 'x', case when u = 1 then 'admin' else 'user' end from generate_series(1, $1) u`,
        [USERS],
      );
      // Addresses spread over 10.0.0.0/8 like the bench's seed; one in ten revoked (outside the partial index).
      await c.query(
        `insert into sessions (user_id, refresh_token_hash, ip_address, device_type, created_at, last_used_at, expires_at, is_revoked, revoked_at, revoked_reason)
         select u.id, md5(g::text), ('10.' || (g % 250) || '.' || ((g / 250) % 250) || '.' || ((g / 62500) % 250))::inet, 'web',
                now() - interval '1 day', now() - interval '1 hour', now() + interval '30 days',
                g % 10 = 0, case when g % 10 = 0 then now() end, case when g % 10 = 0 then 'logout' end
           from (select id, row_number() over (order by id) as n from users) u,
                generate_series((u.n - 1) * $1 + 1, u.n * $1) g`,
        [SESSIONS_PER_USER],
      );
      await c.query('analyze users');
      await c.query('analyze sessions');
      expect(Number((await c.query('select count(*) from sessions')).rows[0].count)).toBe(USERS * SESSIONS_PER_USER);
      return (await c.query<{ id: string }>("select id from users where role = 'admin'")).rows[0].id;
    });
  }, 120_000);

  afterAll(() => db?.drop());

  it('listing by CIDR (first page and a cursor page) and by one address: an index scan on idx_sessions_ip_address, never a sequential scan, on every call', async () => {
    const list = "select count(*) from admin_list_sessions_by_ip('10.7.0.0/16', now(), null, null, 51)";
    const next = "select count(*) from admin_list_sessions_by_ip('10.7.0.0/16', now(), '10.7.3.0', '00000000-0000-0000-0000-000000000000', 51)";
    const single = "select count(*) from admin_list_sessions_by_ip('10.7.3.1', now(), null, null, 51)";
    // Seven calls of each in one session: PL/pgSQL may switch a cached statement to a generic plan after five.
    const plans = await explainCalls(db.ownerUrl, adminId, [...Array(7).fill(list), ...Array(7).fill(next), single]);
    expect(plans).toHaveLength(15);
    for (const plan of plans) {
      expect(plan).toMatch(/Index (Only )?Scan using idx_sessions_ip_address on sessions|Bitmap Index Scan on idx_sessions_ip_address/);
      expect(plan).not.toMatch(/Seq Scan on sessions/);
    }
  });

  it('revoking by CIDR finds its rows through idx_sessions_ip_address too', async () => {
    const [plan] = await explainCalls(db.ownerUrl, adminId, ["select admin_revoke_sessions_by_ip('10.9.0.0/16', 'suspicious_activity', now(), null, null, null)"]);
    expect(plan).toMatch(/idx_sessions_ip_address/);
    expect(plan).not.toMatch(/Seq Scan on sessions/);
  });
});
