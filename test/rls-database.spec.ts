import { randomBytes, randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { createTestDatabase, TEST_APP_USER, TestDatabase } from './support/test-database';

/**
 * Row Level Security as the service meets it: connected as the runtime login role, with the user id
 * set transaction-locally, exactly like RlsInterceptor does. Seeding and checks run as the owner.
 */
describe('Row Level Security through the runtime role (database level)', () => {
  let db: TestDatabase;
  const suffix = randomBytes(4).toString('hex');
  const A = { id: randomUUID(), email: `Alice.${suffix}@Example.test` };
  const B = { id: randomUUID(), email: `bob.${suffix}@example.test` };
  const aSessions = [randomUUID(), randomUUID()].sort();
  const bSessions = [randomUUID(), randomUUID()].sort();

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.asOwner(async (c) => {
      await c.query(`insert into users (id, email, password_hash, display_name) values ($1, $2, 'hash-a', 'A'), ($3, $4, 'hash-b', 'B')`, [
        A.id,
        A.email,
        B.id,
        B.email,
      ]);
      for (const [userId, ids] of [
        [A.id, aSessions],
        [B.id, bSessions],
      ] as const) {
        for (const id of ids) {
          await c.query(
            `insert into sessions (id, user_id, refresh_token_hash, device_name, expires_at) values ($1, $2, 'h', 'original', now() + interval '1 day')`,
            [id, userId],
          );
        }
      }
    });
  });

  afterAll(async () => {
    await db?.drop();
  });

  /** One runtime transaction, as user `userId` (or anonymous when null), always rolled back. */
  async function asUser<T>(userId: string | null, fn: (c: Client) => Promise<T>): Promise<T> {
    return db.asRuntime(async (c) => {
      await c.query('begin');
      try {
        if (userId !== null) await c.query(`select set_config('app.current_user_id', $1, true)`, [userId]);
        return await fn(c);
      } finally {
        await c.query('rollback');
      }
    });
  }

  const ids = (rows: { id: string }[]): string[] => rows.map((r) => r.id).sort();

  describe('the runtime login role', () => {
    it('connects as itself and is neither superuser nor BYPASSRLS, nor a member of any role that is', async () => {
      const self = await db.asRuntime(async (c) => (await c.query(`select current_user as name, current_setting('is_superuser') as su`)).rows[0]);
      expect(self).toEqual({ name: TEST_APP_USER, su: 'off' });
      const role = await db.asOwner(
        async (c) => (await c.query('select rolsuper, rolbypassrls from pg_roles where rolname = $1', [TEST_APP_USER])).rows[0],
      );
      expect(role).toEqual({ rolsuper: false, rolbypassrls: false });
      const privileged = await db.asOwner(
        async (c) =>
          (
            await c.query(`select rolname from pg_roles r where pg_has_role($1, r.oid, 'MEMBER') and (r.rolsuper or r.rolbypassrls)`, [
              TEST_APP_USER,
            ])
          ).rows,
      );
      expect(privileged).toEqual([]);
      const memberOf = await db.asOwner(
        async (c) =>
          (await c.query(`select rolname from pg_roles r where rolname like 'nest_rls_%' and pg_has_role($1, r.oid, 'MEMBER') order by 1`, [TEST_APP_USER]))
            .rows,
      );
      expect(memberOf.map((r) => r.rolname)).toEqual(expect.arrayContaining(['nest_rls_runtime']));
      expect(memberOf.map((r) => r.rolname)).not.toContain('nest_rls_definer');
    });

    it('owns no table, sequence, view, function, schema or type in the database (so RLS is never skipped as owner)', async () => {
      const owned = await db.asOwner(async (c) => {
        const { rows } = await c.query<{ kind: string; name: string }>(
          `with mine as (select r.oid from pg_roles r where pg_has_role($1, r.oid, 'MEMBER'))
           select 'relation' as kind, c.oid::regclass::text as name from pg_class c where c.relowner in (select oid from mine)
           union all select 'function', p.oid::regprocedure::text from pg_proc p where p.proowner in (select oid from mine)
           union all select 'schema', n.nspname::text from pg_namespace n where n.nspowner in (select oid from mine)
           union all select 'type', t.oid::regtype::text from pg_type t where t.typowner in (select oid from mine)
           union all select 'database', d.datname::text from pg_database d where d.datname = current_database() and d.datdba in (select oid from mine)`,
          [TEST_APP_USER],
        );
        return rows;
      });
      expect(owned).toEqual([]);
      const tableOwners = await db.asOwner(
        async (c) =>
          (await c.query(`select relname, pg_get_userbyid(relowner) as owner from pg_class where relname in ('users', 'sessions') order by 1`)).rows,
      );
      expect(tableOwners.map((t) => t.owner)).not.toContain(TEST_APP_USER);
      expect(tableOwners).toHaveLength(2);
    });

    it('meets users and sessions with row level security enabled and forced (so even an owner connection is filtered)', async () => {
      const flags = await db.asOwner(
        async (c) =>
          (
            await c.query(
              `select relname, relrowsecurity, relforcerowsecurity from pg_class
                where relnamespace = 'public'::regnamespace and relname in ('users', 'sessions') order by 1`,
            )
          ).rows,
      );
      expect(flags).toEqual([
        { relname: 'sessions', relrowsecurity: true, relforcerowsecurity: true },
        { relname: 'users', relrowsecurity: true, relforcerowsecurity: true },
      ]);
    });

    it('cannot SET ROLE to nest_rls_definer (42501)', async () => {
      await expect(db.asRuntime((c) => c.query('set role nest_rls_definer'))).rejects.toMatchObject({ code: '42501' });
    });

    it('cannot change users.is_active, ids, ownership or creation times, even on its own rows (column privileges, 42501)', async () => {
      const forbidden = [
        'update users set is_active = false where id = $1',
        'update users set id = id where id = $1',
        'update users set created_at = now() where id = $1',
        'update sessions set user_id = user_id where user_id = $1',
        'update sessions set id = id where user_id = $1',
        'update sessions set created_at = now() where user_id = $1',
        'update sessions set ip_address = null where user_id = $1',
        'delete from users where id = $1',
      ];
      for (const sql of forbidden) {
        await expect(asUser(A.id, (c) => c.query(sql, [A.id]))).rejects.toMatchObject({ code: '42501' });
      }
      await expect(asUser(A.id, (c) => c.query('truncate sessions'))).rejects.toMatchObject({ code: '42501' });
      await expect(asUser(A.id, (c) => c.query('alter table sessions no force row level security'))).rejects.toMatchObject({ code: '42501' });
      // The columns the service does update stay updatable, so the refusals above are about the columns.
      const allowed = await asUser(A.id, (c) => c.query(`update users set display_name = 'A2', updated_at = now() where id = $1`, [A.id]));
      expect(allowed.rowCount).toBe(1);
    });
  });

  describe('with user A set transaction-locally', () => {
    it("sees exactly A's sessions and only A's user row", async () => {
      const seen = await asUser(A.id, async (c) => ({
        sessions: ids((await c.query('select id from sessions')).rows),
        users: ids((await c.query('select id from users')).rows),
      }));
      expect(seen).toEqual({ sessions: aSessions, users: [A.id] });
    });

    it("selects, updates and deletes zero of B's sessions (while the same statements reach A's own)", async () => {
      const result = await asUser(A.id, async (c) => ({
        selectB: (await c.query('select id from sessions where user_id = $1', [B.id])).rowCount,
        selectBById: (await c.query('select id from sessions where id = any($1::uuid[])', [bSessions])).rowCount,
        updateB: (await c.query(`update sessions set device_name = 'hijacked' where user_id = $1`, [B.id])).rowCount,
        updateBById: (await c.query(`update sessions set is_revoked = true, revoked_at = now() where id = $1`, [bSessions[0]])).rowCount,
        deleteB: (await c.query('delete from sessions where user_id = $1', [B.id])).rowCount,
        updateA: (await c.query(`update sessions set device_name = 'mine' where user_id = $1`, [A.id])).rowCount,
        deleteA: (await c.query('delete from sessions where id = $1', [aSessions[0]])).rowCount,
      }));
      expect(result).toEqual({ selectB: 0, selectBById: 0, updateB: 0, updateBById: 0, deleteB: 0, updateA: 2, deleteA: 1 });
    });

    it("refuses to insert a session for B with 42501, but inserts one for A", async () => {
      const insert = `insert into sessions (user_id, refresh_token_hash, expires_at) values ($1, 'h', now() + interval '1 hour') returning id`;
      await expect(asUser(A.id, (c) => c.query(insert, [B.id]))).rejects.toMatchObject({ code: '42501' });
      const own = await asUser(A.id, (c) => c.query(insert, [A.id]));
      expect(own.rowCount).toBe(1);
    });

    it("sees only A's user row, and updating B's user row touches zero rows", async () => {
      const result = await asUser(A.id, async (c) => ({
        users: ids((await c.query('select id from users')).rows),
        byEmail: (await c.query('select id from users where lower(email) = lower($1)', [B.email])).rowCount,
        updateB: (await c.query(`update users set display_name = 'hijacked' where id = $1`, [B.id])).rowCount,
        updateA: (await c.query(`update users set display_name = 'still A' where id = $1`, [A.id])).rowCount,
      }));
      expect(result).toEqual({ users: [A.id], byEmail: 0, updateB: 0, updateA: 1 });
      const bAfter = await db.asOwner(async (c) => (await c.query('select display_name from users where id = $1', [B.id])).rows[0]);
      expect(bAfter).toEqual({ display_name: 'B' });
    });

    it("refuses to register a user row for someone else (42501)", async () => {
      await expect(
        asUser(A.id, (c) => c.query(`insert into users (id, email, password_hash) values ($1, $2, 'h')`, [randomUUID(), `x.${suffix}@example.test`])),
      ).rejects.toMatchObject({ code: '42501' });
    });
  });

  describe('without a usable user id', () => {
    /** Every statement a request could run; each must succeed and touch nothing. */
    async function everyQuerySeesNothing(c: Client): Promise<Record<string, number | null>> {
      return {
        sessions: (await c.query('select id from sessions')).rowCount,
        sessionsOfA: (await c.query('select id from sessions where user_id = $1', [A.id])).rowCount,
        users: (await c.query('select id from users')).rowCount,
        updateSessions: (await c.query(`update sessions set device_name = 'x'`)).rowCount,
        deleteSessions: (await c.query('delete from sessions')).rowCount,
        updateUsers: (await c.query(`update users set display_name = 'x'`)).rowCount,
      };
    }
    const NOTHING = { sessions: 0, sessionsOfA: 0, users: 0, updateSessions: 0, deleteSessions: 0, updateUsers: 0 };

    it('with no id ever set on the connection, every query sees zero rows and none raises', async () => {
      const result = await asUser(null, async (c) => ({
        setting: (await c.query(`select current_setting('app.current_user_id', true) as v`)).rows[0].v,
        ...(await everyQuerySeesNothing(c)),
      }));
      expect(result).toEqual({ setting: null, ...NOTHING });
    });

    it("with the id explicitly set to '', every query sees zero rows and none raises", async () => {
      const result = await asUser('', everyQuerySeesNothing);
      expect(result).toEqual(NOTHING);
    });

    it("on a pooled connection whose previous transaction set A's id, the next transaction sees '' and zero rows, and nothing raises", async () => {
      const result = await db.asRuntime(async (c) => {
        await c.query('begin');
        await c.query(`select set_config('app.current_user_id', $1, true)`, [A.id]);
        const visibleToA = (await c.query('select id from sessions')).rowCount;
        await c.query('commit');

        await c.query('begin');
        try {
          const setting = (await c.query(`select current_setting('app.current_user_id', true) as v`)).rows[0].v;
          return { visibleToA, setting, ...(await everyQuerySeesNothing(c)) };
        } finally {
          await c.query('rollback');
        }
      });
      expect(result).toEqual({ visibleToA: aSessions.length, setting: '', ...NOTHING });
    });

    it('refuses every insert (42501)', async () => {
      await expect(
        asUser(null, (c) => c.query(`insert into sessions (user_id, refresh_token_hash, expires_at) values ($1, 'h', now() + interval '1 hour')`, [A.id])),
      ).rejects.toMatchObject({ code: '42501' });
    });
  });

  describe('SECURITY DEFINER doors', () => {
    it('the runtime can execute exactly the intended definer functions (not admin_caller, not users_set_role); PUBLIC none; all owned by the NOLOGIN BYPASSRLS definer role with a pinned search_path', async () => {
      const doors = await db.asOwner(async (c) => {
        const { rows } = await c.query(
          `select p.oid::regprocedure::text as fn,
                  pg_get_userbyid(p.proowner) as owner,
                  has_function_privilege($1, p.oid, 'EXECUTE') as runtime,
                  exists (select 1 from aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a where a.grantee = 0) as public,
                  p.proconfig::text[] as config
             from pg_proc p where p.pronamespace = 'public'::regnamespace and p.prosecdef order by 1`,
          [TEST_APP_USER],
        );
        return rows;
      });
      const config = ['search_path=pg_catalog, public, pg_temp'];
      // 000007: the admin doors (each checks the caller with admin_caller() first), the audit purge,
      // and two the runtime must not call itself: admin_caller and users_set_role (owner connection only).
      const customPlans = [...config, 'plan_cache_mode=force_custom_plan'];
      const door = (fn: string, runtime = true, cfg = config) => ({ fn, owner: 'nest_rls_definer', runtime, public: false, config: cfg });
      expect(doors).toEqual([
        door('admin_caller()', false),
        door('admin_list_auth_events(uuid,timestamp with time zone,uuid,integer)'),
        door('admin_list_sessions_by_ip(inet,timestamp with time zone,inet,uuid,integer)', true, customPlans),
        door('admin_list_user_sessions(uuid,timestamp with time zone,timestamp with time zone,uuid,integer)'),
        door('admin_revoke_session(uuid,text,timestamp with time zone,inet,text,text)'),
        door('admin_revoke_sessions_by_ip(inet,text,timestamp with time zone,inet,text,text)', true, customPlans),
        door('admin_revoke_user_sessions(uuid,text,timestamp with time zone,inet,text,text)'),
        door('admin_set_user_active(uuid,boolean,timestamp with time zone,inet,text,text)'),
        door('auth_find_login(text)'),
        door('auth_is_admin()'),
        door('purge_ended_sessions(interval,integer)'),
        door('purge_old_auth_events(interval,integer)'),
        door('users_set_role(text,text)', false),
      ]);
      const definer = await db.asOwner(
        async (c) => (await c.query(`select rolcanlogin, rolsuper, rolbypassrls from pg_roles where rolname = 'nest_rls_definer'`)).rows[0],
      );
      expect(definer).toEqual({ rolcanlogin: false, rolsuper: false, rolbypassrls: true });
      const definerMembers = await db.asOwner(
        async (c) =>
          (await c.query(`select m.member::regrole::text as member from pg_auth_members m where m.roleid = 'nest_rls_definer'::regrole`)).rows,
      );
      expect(definerMembers).toEqual([]);
    });

    it('auth_find_login returns exactly the one account whose stored (normalised) email it is given, with no user id set', async () => {
      const find = (email: string) =>
        asUser(null, async (c) => (await c.query('select id, password_hash, is_active from auth_find_login($1)', [email])).rows);
      expect(await find(A.email)).toEqual([{ id: A.id, password_hash: 'hash-a', is_active: true }]);
      expect(await find(B.email)).toEqual([{ id: B.id, password_hash: 'hash-b', is_active: true }]);
      // The application normalises (src/users/email.ts); the database applies no lower() or trim of
      // its own, whose answer would depend on the server's locale.
      expect(await find(`   ${A.email.toUpperCase()}  `)).toEqual([]);
      expect(await find(` ${B.email} `)).toEqual([]);
      expect(await find(`%.${suffix}@example.test`)).toEqual([]);
      expect(await find(`alice.${suffix}@example.tes`)).toEqual([]);
      expect(await find('')).toEqual([]);
    });

    describe('purge_ended_sessions', () => {
      const C = { id: randomUUID(), email: `carol.${suffix}@example.test` };
      let ended: Record<'expiredLongAgo' | 'revokedLongAgoOfB' | 'revokedRecently' | 'expiredRecently', string>;
      let live: string[];

      beforeAll(async () => {
        await db.asOwner((c) => c.query(`insert into users (id, email, password_hash) values ($1, $2, 'hash-c')`, [C.id, C.email]));
      });

      // Each test starts from the same rows: no ended session but these four, plus two live ones of C
      // (besides A's and B's live sessions).
      beforeEach(async () => {
        await db.asOwner(async (c) => {
          await c.query('delete from sessions where least(expires_at, revoked_at) < now() or user_id = $1', [C.id]);
          const add = async (userId: string, values: string): Promise<string> =>
            (
              await c.query(
                `insert into sessions (user_id, refresh_token_hash, created_at, expires_at, is_revoked, revoked_at) values ($1, 'h', ${values}) returning id`,
                [userId],
              )
            ).rows[0].id;
          ended = {
            expiredLongAgo: await add(C.id, `now() - interval '10 days', now() - interval '3 days', false, null`),
            revokedLongAgoOfB: await add(B.id, `now() - interval '10 days', now() + interval '1 day', true, now() - interval '3 days'`),
            revokedRecently: await add(C.id, `now() - interval '1 day', now() + interval '1 day', true, now() - interval '1 hour'`),
            expiredRecently: await add(C.id, `now() - interval '1 day', now() - interval '1 hour', false, null`),
          };
          live = [
            await add(C.id, `now() - interval '400 days', now() + interval '1 minute', false, null`),
            await add(C.id, `now(), now() + interval '30 days', false, null`),
          ];
        });
      });

      /** Calls the purge as the service does: runtime role, no user id, committed. */
      const purge = (retention: string, limit = 1000): Promise<number> =>
        db.asRuntime(async (c) => {
          await c.query('begin');
          try {
            await c.query(`set local lock_timeout = '5s'`);
            const n = (await c.query('select purge_ended_sessions($1::interval, $2) as n', [retention, limit])).rows[0].n as number;
            await c.query('commit');
            return n;
          } catch (err) {
            await c.query('rollback');
            throw err;
          }
        });
      const existing = async (sessionIds: string[]): Promise<string[]> =>
        db.asOwner(async (c) => ids((await c.query('select id from sessions where id = any($1::uuid[])', [sessionIds])).rows));
      const allLive = (): string[] => [...live, ...aSessions, ...bSessions].sort();

      it('refuses a negative retention, or a limit outside 1..100000, with 22023 and deletes nothing', async () => {
        await expect(purge('-1 second')).rejects.toMatchObject({ code: '22023' });
        await expect(purge('-1 day', 10)).rejects.toMatchObject({ code: '22023' });
        await expect(purge('0', 0)).rejects.toMatchObject({ code: '22023' });
        await expect(purge('0', 100001)).rejects.toMatchObject({ code: '22023' });
        expect(await existing(Object.values(ended))).toEqual(Object.values(ended).sort());
      });

      it("removes every user's sessions that ended more than the retention ago, and no others", async () => {
        expect(await purge('2 days')).toBe(2);
        expect(await existing(Object.values(ended))).toEqual([ended.revokedRecently, ended.expiredRecently].sort());
        expect(await existing(allLive())).toEqual(allLive());
      });

      it('never deletes a live session, even with retention 0, and removes at most the limit per call', async () => {
        expect(await purge('0', 3)).toBe(3);
        expect(await purge('0', 3)).toBe(1);
        expect(await purge('0')).toBe(0);
        expect(await existing(Object.values(ended))).toEqual([]);
        expect(await existing(allLive())).toEqual(allLive());
      });

      it('skips a row another transaction holds instead of waiting for it', async () => {
        const locker = new Client({ connectionString: db.ownerUrl });
        await locker.connect();
        try {
          await locker.query('begin');
          await locker.query('select id from sessions where id = $1 for update', [ended.expiredLongAgo]);
          expect(await purge('2 days')).toBe(1);
          expect(await existing([ended.expiredLongAgo, ended.revokedLongAgoOfB])).toEqual([ended.expiredLongAgo]);
        } finally {
          await locker.query('rollback');
          await locker.end();
        }
      });
    });
  });
});
