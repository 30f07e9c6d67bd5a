import { randomBytes } from 'node:crypto';
import { connect, createServer } from 'node:net';
import { INestApplication, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { MikroOrmModule } from '@mikro-orm/nestjs';
import { PostgreSqlDriver } from '@mikro-orm/postgresql';
import { Client } from 'pg';
import { AUTH_ENTITIES, AuthModule, AuthModuleExtras, AuthModuleOptions, RlsContext } from '../src';
import { databaseErrorStatus } from '../src/core/app-exception.filter';
import { loadConfig } from '../src/config/load-config';
import { prepareDatabase } from '../src/database/bootstrap';
import { checkRuntimeRole, ensureRuntimeRole, RUNTIME_GROUP_ROLE, RUNTIME_ROLE_MARK, withCredentials } from '../src/database/runtime-role';
import { freePort } from './support/net';
import { TEST_ENV } from './support/test-app';
import { startOwnPostgres, OwnPostgres } from './support/own-postgres';
import { createTestDatabase, databaseUrl, TEST_APP_USER, TestDatabase, testDatabaseAt, withClient } from './support/test-database';

/**
 * The runtime role as it really connects (finding 3) and runtime roles on a shared cluster
 * (finding 11). Roles are cluster-wide: every role here has a random suffix and is dropped in afterAll.
 */
describe('the runtime role', () => {
  let db: TestDatabase;
  /** The owner URL's role: a superuser on the test server. */
  let ownerRole: string;
  const suffix = randomBytes(4).toString('hex');
  const created: string[] = [];
  const role = (tag: string): string => {
    const name = `nra_rr_${tag}_${suffix}`;
    created.push(name);
    return name;
  };
  const password = (): string => `pw-${randomBytes(12).toString('hex')}`;

  beforeAll(async () => {
    db = await createTestDatabase();
    ownerRole = await db.asOwner(async (c) => (await c.query<{ u: string }>('select current_user::text as u')).rows[0].u);
  });

  afterAll(async () => {
    if (!db) return;
    await db.drop(); // first: objects a role owns or has privileges on go with the database
    await withClient(databaseUrl('postgres', db.ownerUrl), async (c) => {
      for (const name of created) await c.query(`drop role if exists ${c.escapeIdentifier(name)}`);
    });
  });

  /** Role helpers on the database `d()` (the shared test server's, or a server of this file's own). */
  function on(d: () => TestDatabase) {
    const ownerSql = (sql: string): Promise<unknown> => d().asOwner((c) => c.query(sql));
    const urlFor = (name: string, pw: string): string => withCredentials(d().ownerUrl, name, pw);
    return {
      ownerSql,
      urlFor,
      ensure: (name: string, pw: string, runtimeUrl = urlFor(name, pw)): Promise<void> => ensureRuntimeRole(d().ownerUrl, runtimeUrl, name, pw),

      /** Creates `name` as the owner: `attributes` is our own SQL text (e.g. 'LOGIN BYPASSRLS'); password and comment are parameters. */
      async createRole(name: string, attributes: string, pw?: string, comment?: string): Promise<void> {
        await d().asOwner(async (c) => {
          const { rows } = await c.query<{ sql: string }>(`select format('CREATE ROLE %I ${attributes} PASSWORD %L', $1::text, $2::text) as sql`, [
            name,
            pw ?? null,
          ]);
          await c.query(rows[0].sql);
          if (comment !== undefined) {
            const { rows: sql } = await c.query<{ sql: string }>(`select format('COMMENT ON ROLE %I IS %L', $1::text, $2::text) as sql`, [name, comment]);
            await c.query(sql[0].sql);
          }
        });
      },

      async canLogIn(name: string, pw: string): Promise<boolean> {
        const client = new Client({ connectionString: urlFor(name, pw), connectionTimeoutMillis: 5000 });
        try {
          await client.connect();
          return true;
        } catch {
          return false;
        } finally {
          await client.end().catch(() => undefined);
        }
      },

      async comment(name: string): Promise<string | null> {
        return d().asOwner(
          async (c) => (await c.query<{ c: string | null }>(`select shobj_description(oid, 'pg_authid') as c from pg_roles where rolname = $1`, [name])).rows[0].c,
        );
      },

      /** The stored password verifier: changes exactly when the password is set. */
      async verifier(name: string): Promise<string | null> {
        return d().asOwner(async (c) => (await c.query<{ p: string | null }>('select rolpassword as p from pg_authid where rolname = $1', [name])).rows[0].p);
      },

      async memberOfRuntimeGroup(name: string): Promise<boolean> {
        return d().asOwner(
          async (c) => (await c.query<{ m: boolean }>(`select pg_has_role($1::text, $2::text, 'MEMBER') as m`, [name, RUNTIME_GROUP_ROLE])).rows[0].m,
        );
      },

      /** Runs `fn` with `table` owned by `newOwner`, then gives it back to its owner. */
      async withTableOwnedBy(table: 'users' | 'sessions', newOwner: string, fn: () => Promise<void>): Promise<void> {
        const before = await d().asOwner(
          async (c) => (await c.query<{ o: string }>(`select pg_get_userbyid(relowner)::text as o from pg_class where oid = $1::regclass`, [table])).rows[0].o,
        );
        await ownerSql(`alter table ${table} owner to ${newOwner}`);
        try {
          await fn();
        } finally {
          await ownerSql(`alter table ${table} owner to ${before}`);
        }
      },
    };
  }

  const { createRole, ensure, urlFor, ownerSql, memberOfRuntimeGroup, comment, withTableOwnedBy } = on(() => db);

  describe('check of the role a connection really is', () => {
    it('finds nothing wrong with the proper runtime role, and names it', async () => {
      const report = await db.asRuntime((c) => checkRuntimeRole(async (sql) => (await c.query(sql)).rows));
      expect(report).toEqual({ role: TEST_APP_USER, loginRole: TEST_APP_USER, problems: [] });
    });

    it('refuses an app URL that logs in as a superuser, naming that role, even though a harmless DATABASE_APP_USER role exists (prepareDatabase)', async () => {
      const harmless = role('harmless');
      const pw = password();
      await createRole(harmless, 'LOGIN NOSUPERUSER NOBYPASSRLS', pw);
      const config = loadConfig({
        ...TEST_ENV,
        DATABASE_URL: db.ownerUrl,
        DATABASE_APP_URL: db.ownerUrl,
        DATABASE_APP_USER: harmless,
        DATABASE_APP_PASSWORD: pw,
      });
      const refusal = prepareDatabase(config);
      await expect(refusal).rejects.toThrow(`the database role the runtime connection uses, "${ownerRole}", can bypass Row Level Security`);
      await expect(refusal).rejects.toThrow(`"${ownerRole}" is a superuser`);
      await expect(refusal).rejects.toThrow(/DATABASE_APP_URL/);
      await expect(refusal).rejects.not.toThrow(harmless);
      // The harmless role was not touched on the way.
      expect(await memberOfRuntimeGroup(harmless)).toBe(false);
      expect(await comment(harmless)).toBeNull();
    });

    it('refuses the same through ensureRuntimeRole', async () => {
      await expect(ensureRuntimeRole(db.ownerUrl, db.ownerUrl, TEST_APP_USER, 'unused-password-0123')).rejects.toThrow(
        `"${ownerRole}" is a superuser`,
      );
    });

    it('refuses a login role that SET ROLEs to the proper runtime role on connecting (it can RESET ROLE), naming both', async () => {
      const url = new URL(db.ownerUrl);
      url.searchParams.set('options', `-c role=${TEST_APP_USER}`);
      const report = await withClient(url.toString(), (c) => checkRuntimeRole(async (sql) => (await c.query(sql)).rows));
      expect(report.role).toBe(TEST_APP_USER);
      expect(report.loginRole).toBe(ownerRole);
      expect(report.problems).toEqual([`"${ownerRole}" is a superuser`]);
    });

    it('refuses a runtime role with BYPASSRLS', async () => {
      const name = role('bypass');
      const pw = password();
      await createRole(name, 'LOGIN BYPASSRLS', pw);
      await expect(ensure(name, pw)).rejects.toThrow(`Refusing to start: the database role the runtime connection uses, "${name}", can bypass Row Level Security`);
      await expect(ensure(name, pw)).rejects.toThrow(`"${name}" has BYPASSRLS`);
      expect(await memberOfRuntimeGroup(name)).toBe(false);
    });

    it('refuses a runtime role with CREATEROLE', async () => {
      const name = role('createrole');
      const pw = password();
      await createRole(name, 'LOGIN CREATEROLE', pw);
      await expect(ensure(name, pw)).rejects.toThrow(`"${name}" has CREATEROLE`);
    });

    it('refuses a runtime role that owns one of the tables', async () => {
      const name = role('owner');
      const pw = password();
      await createRole(name, 'LOGIN', pw);
      await withTableOwnedBy('sessions', name, async () => {
        await expect(ensure(name, pw)).rejects.toThrow(`"${name}" owns table sessions`);
      });
    });

    it('refuses a runtime role that owns a table through its membership in the owning role', async () => {
      const owning = role('owning');
      const name = role('viaowner');
      const pw = password();
      await createRole(owning, 'NOLOGIN');
      await createRole(name, 'LOGIN', pw);
      await ownerSql(`grant ${owning} to ${name}`);
      await withTableOwnedBy('users', owning, async () => {
        await expect(ensure(name, pw)).rejects.toThrow(`"${name}" owns table users through its membership in "${owning}"`);
      });
    });

    // Membership in the project's own nest_rls_definer is refused too, but tested on this file's own
    // server below: on the shared one, test/rls-database.spec.ts checks at the same time that the
    // definer role has no members at all.
    it('refuses a runtime role that is a member of a BYPASSRLS role, even without INHERIT', async () => {
      const bypass = role('bypassgroup');
      const name = role('member');
      const pw = password();
      await createRole(bypass, 'NOLOGIN BYPASSRLS');
      await createRole(name, 'LOGIN NOINHERIT', pw);
      await ownerSql(`grant ${bypass} to ${name}`);
      await expect(ensure(name, pw)).rejects.toThrow(`"${name}" is a member of "${bypass}", which has BYPASSRLS`);
    });

    it('refuses a runtime role that is a member of a superuser role', async () => {
      const superRole = role('supergroup');
      const name = role('supermember');
      const pw = password();
      await createRole(superRole, 'NOLOGIN SUPERUSER');
      await createRole(name, 'LOGIN', pw);
      await ownerSql(`grant ${superRole} to ${name}`);
      await expect(ensure(name, pw)).rejects.toThrow(`"${name}" is a member of "${superRole}", which is a superuser`);
    });
  });

  describe('AuthModule at start-up', () => {
    const secrets = {
      accessToken: { secret: 'rr-access-secret-0123456789abcdef0123456789' },
      refreshToken: { secret: 'rr-refresh-secret-0123456789abcdef012345678' },
      bcryptCost: 4,
    };

    async function boot(options: { extras?: Partial<AuthModuleExtras>; databaseUrl?: string; hostOrmUrl?: string }): Promise<INestApplication> {
      @Module({
        imports: [
          ...(options.hostOrmUrl
            ? [
                MikroOrmModule.forRoot({
                  driver: PostgreSqlDriver,
                  clientUrl: options.hostOrmUrl,
                  entities: [...AUTH_ENTITIES],
                  allowGlobalContext: false,
                  forceUtcTimezone: true,
                }),
              ]
            : []),
          AuthModule.forRootAsync({
            ...options.extras,
            useFactory: (): AuthModuleOptions => ({
              ...secrets,
              ...(options.databaseUrl ? { database: { url: options.databaseUrl, acquireTimeoutMs: 1000 } } : {}),
            }),
          }),
        ],
      })
      class HostModule {}
      const moduleRef = await Test.createTestingModule({ imports: [HostModule] }).compile();
      const app = moduleRef.createNestApplication({ logger: false });
      try {
        await app.init();
      } catch (err) {
        await app.close().catch(() => undefined);
        throw err;
      }
      return app;
    }

    it('refuses to boot a host app with useHostOrm whose ORM connects as a superuser, naming the role', async () => {
      const boot1 = boot({ extras: { useHostOrm: true }, hostOrmUrl: db.ownerUrl });
      await expect(boot1).rejects.toThrow(`Refusing to start: the database role the runtime connection uses, "${ownerRole}", can bypass Row Level Security`);
      await expect(boot1).rejects.toThrow(`"${ownerRole}" is a superuser`);
      await expect(boot1).rejects.toThrow(/useHostOrm/);
    });

    it('refuses to boot with the module’s own ORM connecting as a BYPASSRLS role', async () => {
      const name = role('ormbypass');
      const pw = password();
      await createRole(name, 'LOGIN BYPASSRLS', pw);
      await expect(boot({ databaseUrl: urlFor(name, pw) })).rejects.toThrow(`"${name}" has BYPASSRLS`);
    });

    it('boots with the proper runtime role, through its own ORM and through the host’s', async () => {
      const own = await boot({ databaseUrl: db.runtimeUrl });
      await own.close();
      const host = await boot({ extras: { useHostOrm: true }, hostOrmUrl: db.runtimeUrl });
      await host.close();
    });

    it('starts when the database cannot be reached, and checks the role before the first transaction once it can', async () => {
      // The ORM's URL points at a port where, at start-up, nothing listens; later a forwarder to the
      // test server opens there, and the URL's role (the owner, a superuser) must be refused then.
      const port = await freePort();
      const owner = new URL(db.ownerUrl);
      const viaPort = (url: string): string => Object.assign(new URL(url), { hostname: '127.0.0.1', port: String(port) }).toString();
      const unsafe = await boot({ databaseUrl: viaPort(db.ownerUrl) });
      const safe = await boot({ databaseUrl: viaPort(db.runtimeUrl) });
      const forwarder = createServer((client) => {
        const upstream = connect(Number(owner.port || 5432), owner.hostname);
        client.pipe(upstream).pipe(client);
        client.on('error', () => upstream.destroy());
        upstream.on('error', () => client.destroy());
      });
      try {
        const asNobody = (app: INestApplication) => app.get(RlsContext).runAsUser(null, async () => 'ran');
        // Down: the request fails as an outage (503), and nothing ran.
        const down = await asNobody(unsafe).catch((err: unknown) => err);
        expect(databaseErrorStatus(down)).toBe(503);

        await new Promise<void>((resolve) => forwarder.listen(port, '127.0.0.1', resolve));
        await expect(asNobody(unsafe)).rejects.toThrow(`"${ownerRole}" is a superuser`);
        await expect(asNobody(unsafe)).rejects.toThrow(`"${ownerRole}" is a superuser`);
        await expect(asNobody(safe)).resolves.toBe('ran');
      } finally {
        await Promise.all([unsafe.close(), safe.close()]);
        await new Promise((resolve) => forwarder.close(resolve));
      }
    });
  });

  /**
   * On a server of this file's own: the shared test server may trust every login (TEST_DATABASE_URL
   * with trust auth), where a wrong password logs in all the same; this one checks passwords
   * (scram-sha-256), in both test modes.
   */
  describe('setting the role up on a cluster shared with other databases', () => {
    let pg: OwnPostgres | undefined;
    let sdb: TestDatabase;
    const r = on(() => sdb);

    beforeAll(async () => {
      pg = await startOwnPostgres({ database: 'nra_roles', prefix: 'nra-roles-pg-' });
      sdb = await testDatabaseAt(pg.ownerUrl);
    });
    afterAll(async () => {
      await pg?.close();
    });

    it('checks passwords (or the tests below would prove nothing)', async () => {
      expect(await r.canLogIn(TEST_APP_USER, 'not-the-password-0123')).toBe(false);
    });

    it('creates a missing role, marked as this database’s, able to log in, in nest_rls_runtime', async () => {
      const name = role('fresh');
      const pw = password();
      await r.ensure(name, pw);
      expect(await r.comment(name)).toBe(`${RUNTIME_ROLE_MARK}nra_roles`);
      expect(await r.canLogIn(name, pw)).toBe(true);
      expect(await r.memberOfRuntimeGroup(name)).toBe(true);
      // Role and mark were written by one transaction: a start racing this one never sees the role unmarked.
      const xmins = await sdb.asOwner(
        async (c) =>
          (
            await c.query<{ role: string; mark: string }>(
              `select a.xmin::text as role, d.xmin::text as mark from pg_authid a join pg_shdescription d on d.objoid = a.oid and d.classoid = 'pg_authid'::regclass
                where a.rolname = $1`,
              [name],
            )
          ).rows,
      );
      expect(xmins).toHaveLength(1);
      expect(xmins[0].mark).toBe(xmins[0].role);
    });

    it('resets the password of a role marked as this database’s (password rotation), and starts', async () => {
      const name = role('rotate');
      const before = password();
      const after = password();
      await r.ensure(name, before);
      await r.ensure(name, after);
      expect(await r.canLogIn(name, after)).toBe(true);
      expect(await r.canLogIn(name, before)).toBe(false);
    });

    it('refuses a role that is not marked as this database’s, and leaves its password alone', async () => {
      const name = role('foreign');
      const theirs = password();
      await r.createRole(name, 'LOGIN', theirs);
      const verifier = await r.verifier(name);
      const refusal = r.ensure(name, password());
      await expect(refusal).rejects.toThrow(
        `DATABASE_APP_PASSWORD does not log in as DATABASE_APP_USER "${name}", and that role exists but is not marked as the runtime role of database "nra_roles" (it has no comment)`,
      );
      await expect(refusal).rejects.toThrow(
        'it may belong to another deployment; its password was left unchanged. Set DATABASE_APP_USER to a name of its own, e.g. "nest_rls_app_nra_roles", or DATABASE_APP_PASSWORD to the role\'s password.',
      );
      await expect(refusal).rejects.toThrow(`COMMENT ON ROLE ${name} IS '${RUNTIME_ROLE_MARK}nra_roles'`);
      expect(await r.canLogIn(name, theirs)).toBe(true);
      expect(await r.verifier(name)).toBe(verifier);
      expect(await r.comment(name)).toBeNull();
      expect(await r.memberOfRuntimeGroup(name)).toBe(false);
    });

    it('refuses a role marked as another database’s, and leaves its password alone', async () => {
      const name = role('otherdb');
      const theirs = password();
      await r.createRole(name, 'LOGIN', theirs, `${RUNTIME_ROLE_MARK}some_other_database`);
      await expect(r.ensure(name, password())).rejects.toThrow(`its comment is "${RUNTIME_ROLE_MARK}some_other_database"`);
      expect(await r.canLogIn(name, theirs)).toBe(true);
    });

    it('after the owner marks a role from before the marks as this database’s (as the refusal says), resets its password', async () => {
      const name = role('adopted');
      await r.createRole(name, 'LOGIN', password());
      const refusal = await r.ensure(name, password()).then(
        () => undefined,
        (err: Error) => err.message,
      );
      const fix = /start again: (COMMENT ON ROLE .*)$/.exec(refusal ?? '')?.[1];
      expect(fix).toBeDefined();
      await r.ownerSql(fix!);
      const pw = password();
      await r.ensure(name, pw);
      expect(await r.canLogIn(name, pw)).toBe(true);
    });

    it('refuses a privileged existing role before changing anything, even one marked as this database’s', async () => {
      const theirs = password();
      const marked = role('privmarked');
      await r.createRole(marked, 'LOGIN BYPASSRLS', theirs, `${RUNTIME_ROLE_MARK}nra_roles`);
      const verifier = await r.verifier(marked);
      await expect(r.ensure(marked, password())).rejects.toThrow(
        `Refusing to start: DATABASE_APP_PASSWORD does not log in as DATABASE_APP_USER "${marked}", and that existing role can bypass Row Level Security: "${marked}" has BYPASSRLS. Its password was left unchanged.`,
      );
      expect(await r.canLogIn(marked, theirs)).toBe(true);
      expect(await r.verifier(marked)).toBe(verifier);

      const superName = role('super');
      await r.createRole(superName, 'LOGIN SUPERUSER', theirs);
      await expect(r.ensure(superName, password())).rejects.toThrow(`"${superName}" is a superuser. Its password was left unchanged.`);
      expect(await r.canLogIn(superName, theirs)).toBe(true);

      const member = role('privmember');
      await r.createRole(member, 'LOGIN', theirs, `${RUNTIME_ROLE_MARK}nra_roles`);
      await r.ownerSql(`grant nest_rls_definer to ${member}`);
      await expect(r.ensure(member, password())).rejects.toThrow(`"${member}" is a member of "nest_rls_definer", which has BYPASSRLS. Its password was left unchanged.`);
      expect(await r.canLogIn(member, theirs)).toBe(true);

      const owner = role('tableowner');
      await r.createRole(owner, 'LOGIN', theirs, `${RUNTIME_ROLE_MARK}nra_roles`);
      await r.withTableOwnedBy('sessions', owner, async () => {
        await expect(r.ensure(owner, password())).rejects.toThrow(`"${owner}" owns table sessions. Its password was left unchanged.`);
      });
      expect(await r.canLogIn(owner, theirs)).toBe(true);
    });

    it('starts with a role from before the marks whose password works, and marks it as this database’s', async () => {
      const name = role('legacy');
      const pw = password();
      await r.createRole(name, 'LOGIN', pw);
      await r.ensure(name, pw);
      expect(await r.comment(name)).toBe(`${RUNTIME_ROLE_MARK}nra_roles`);
      expect(await r.memberOfRuntimeGroup(name)).toBe(true);
    });

    it('leaves the comment of a role that has one of its own, when its password works', async () => {
      const name = role('commented');
      const pw = password();
      await r.createRole(name, 'LOGIN', pw, 'managed by the ops team');
      await r.ensure(name, pw);
      expect(await r.comment(name)).toBe('managed by the ops team');
    });

    it('does not touch DATABASE_APP_USER when DATABASE_APP_URL logs in as another role and fails', async () => {
      const name = role('untouched');
      const theirs = password();
      await r.createRole(name, 'LOGIN', theirs, `${RUNTIME_ROLE_MARK}nra_roles`);
      const verifier = await r.verifier(name);
      const other = role('absent');
      await expect(r.ensure(name, password(), r.urlFor(other, 'whatever-password-123'))).rejects.toThrow(`Cannot log in as the runtime role "${other}"`);
      expect(await r.verifier(name)).toBe(verifier);
    });

    it('lets instances that start together with a new role name all succeed', async () => {
      const name = role('race');
      const pw = password();
      const starts = await Promise.allSettled([r.ensure(name, pw), r.ensure(name, pw), r.ensure(name, pw), r.ensure(name, pw)]);
      expect(starts).toEqual(Array(4).fill({ status: 'fulfilled', value: undefined }));
      expect(await r.canLogIn(name, pw)).toBe(true);
      expect(await r.comment(name)).toBe(`${RUNTIME_ROLE_MARK}nra_roles`);
      expect(await r.memberOfRuntimeGroup(name)).toBe(true);
    });
  });
});
