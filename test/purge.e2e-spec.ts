import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AuthEventsRepository } from '../src/audit/auth-events.repository';
import { SessionsPurgeService } from '../src/sessions/sessions-purge.service';
import { SessionsRepository } from '../src/sessions/sessions.repository';
import { login, newUser } from './support/factories';
import { createTestApp, TestApp } from './support/test-app';

const RETENTION_SECONDS = 3600;
const BATCH_SIZE = 2;
const AUDIT_RETENTION_SECONDS = 2 * 3600;

/**
 * A session's shape relative to the database's now() (the purge function uses it, not the app's
 * clock), and whether it ended more than the retention (1 hour) ago.
 */
interface Seed {
  label: string;
  expires: string;
  revoked: string | null;
  purged: boolean;
}

const SEEDS: Seed[] = [
  { label: 'live', expires: '1 day', revoked: null, purged: false },
  { label: 'expired 2 hours ago', expires: '-2 hours', revoked: null, purged: true },
  { label: 'expired 10 minutes ago', expires: '-10 minutes', revoked: null, purged: false },
  { label: 'expired 50 minutes ago (just inside retention)', expires: '-50 minutes', revoked: null, purged: false },
  { label: 'revoked 2 hours ago, not yet expired', expires: '1 day', revoked: '-2 hours', purged: true },
  { label: 'live but revoked 10 minutes ago', expires: '1 day', revoked: '-10 minutes', purged: false },
  { label: 'expired recently, revoked long ago', expires: '-10 minutes', revoked: '-3 hours', purged: true },
  { label: 'expired long ago, revoked recently', expires: '-5 hours', revoked: '-10 minutes', purged: true },
];

describe('purging ended sessions', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({
      env: { SESSION_RETENTION: String(RETENTION_SECONDS), PURGE_BATCH_SIZE: String(BATCH_SIZE), AUDIT_RETENTION: String(AUDIT_RETENTION_SECONDS) },
    });
  });
  afterAll(() => t.close());

  async function seed(userId: string, s: Seed): Promise<string> {
    return t.db.asOwner(async (c) => {
      const { rows } = await c.query<{ id: string }>(
        `insert into sessions (user_id, refresh_token_hash, created_at, last_used_at, expires_at, is_revoked, revoked_at, revoked_reason)
         values ($1, 'seeded', now() - interval '30 days', now() - interval '30 days', now() + $2::interval,
                 $3::interval is not null, now() + $3::interval, case when $3::interval is null then null else 'logout' end)
         returning id`,
        [userId, s.expires, s.revoked],
      );
      return rows[0].id;
    });
  }

  it('deletes exactly the sessions that expired or were revoked more than SESSION_RETENTION ago, in batches', async () => {
    const a = await newUser(t.http);
    const b = await newUser(t.http);
    const aLive = await login(t.http, a);
    const bLive = await login(t.http, b);

    const gone = new Map<string, string>();
    const kept = new Map<string, string>([
      [aLive.sessionId, 'A logged in'],
      [bLive.sessionId, 'B logged in'],
    ]);
    for (const user of [a, b]) {
      for (const s of SEEDS) (s.purged ? gone : kept).set(await seed(user.id, s), `${user.email}: ${s.label}`);
    }
    // One more for B, so the last batch comes back short (9 rows in batches of 2).
    gone.set(await seed(b.id, { label: 'expired a week ago', expires: '-7 days', revoked: null, purged: true }), 'B: a week ago');
    expect(gone.size).toBe(9);

    const batches = jest.spyOn(SessionsRepository.prototype, 'purgeBatch');
    const removed = await t.app.get(SessionsPurgeService).purge();

    expect(removed).toBe(gone.size);
    expect(batches).toHaveBeenCalledTimes(Math.ceil(gone.size / BATCH_SIZE));
    expect(batches.mock.calls.every(([retention, limit]) => retention === RETENTION_SECONDS && limit === BATCH_SIZE)).toBe(true);
    batches.mockRestore();

    const remaining = await t.db.asOwner(async (c) => (await c.query<{ id: string }>('select id from sessions')).rows.map((r) => r.id));
    const label = (ids: Iterable<string>, names: Map<string, string>) => [...ids].map((id) => names.get(id) ?? id).sort();
    expect(label(remaining, new Map([...kept, ...gone]))).toEqual(label(kept.keys(), kept));

    // Nothing else is old enough; the live sessions still work.
    expect(await t.app.get(SessionsPurgeService).purge()).toBe(0);
    await t.http.post('/auth/refresh').send({ refreshToken: aLive.refreshToken }).expect(200);
    await t.http.post('/auth/refresh').send({ refreshToken: bLive.refreshToken }).expect(200);
  });

  it('trims audit events older than AUDIT_RETENTION, in batches, and no newer ones', async () => {
    const a = await newUser(t.http);
    const b = await newUser(t.http);
    // Ages relative to the database's now(), as the purge function measures them; retention is 2 hours.
    const ages: Array<[string, boolean]> = [
      ['3 hours', true],
      ['2 hours 1 minute', true],
      ['30 days', true],
      ['1 year', true],
      ['1 hour 59 minutes', false],
      ['10 minutes', false],
      ['0 seconds', false],
    ];
    const expected = new Map<string, boolean>();
    await t.db.asOwner(async (c) => {
      for (const user of [a, b]) {
        for (const [age, purged] of ages) {
          const { rows } = await c.query<{ id: string }>(
            "insert into auth_events (created_at, type, user_id, actor_id, reason) values (now() - $1::interval, 'session.revoked', $2, $2, 'logout') returning id",
            [age, user.id],
          );
          expected.set(rows[0].id, purged);
        }
      }
    });
    const live = await login(t.http, a); // recorded now: kept
    const ids = () => t.db.asOwner(async (c) => (await c.query<{ id: string }>('select id from auth_events where user_id = any($1)', [[a.id, b.id]])).rows.map((r) => r.id));
    expect((await ids()).length).toBe(expected.size + 1);

    const batches = jest.spyOn(AuthEventsRepository.prototype, 'purgeBatch');
    await t.app.get(SessionsPurgeService).purge();
    // 8 rows in batches of 2, and the short batch that ends the run.
    expect(batches.mock.calls).toEqual(Array(5).fill([AUDIT_RETENTION_SECONDS, BATCH_SIZE]));
    batches.mockRestore();

    const left = new Set(await ids());
    expect([...expected].filter(([id, purged]) => left.has(id) === purged)).toEqual([]);
    expect(left.size).toBe([...expected.values()].filter((purged) => !purged).length + 1);
    await t.http.get('/auth/me').set('Authorization', `Bearer ${live.accessToken}`).expect(200);
  });

  it('is runnable on demand as `npm run sessions:purge`', () => {
    const pkg = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts['sessions:purge']).toMatch(/node dist\/cli\/purge-sessions\.js/);
    expect(existsSync(join(__dirname, '..', 'src', 'cli', 'purge-sessions.ts'))).toBe(true);
  });
});
