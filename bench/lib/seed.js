'use strict';
// Seeding, as the owner (a superuser: RLS is FORCEd on both tables but superusers bypass it),
// with generate_series. User n has id md5('nra-bench-user-' || n)::uuid and email
// bench-user-<n>@bench.test. Sessions are inserted session-major (every user's first session,
// then every user's second...), so one user's rows are spread over the table as they are in
// life, not packed in one heap page.

const userId = (n) => `md5('nra-bench-user-' || ${n})::uuid`;

async function seedUsers(c, { from, to, passwordHash }) {
  await c.query(
    `insert into users (id, email, password_hash, display_name, is_active, password_changed_at, created_at, updated_at)
     select ${userId('n')}, 'bench-user-' || n || '@bench.test', $1, 'Bench User ' || n, true,
            now() - interval '200 days', now() - interval '200 days', now() - interval '200 days'
       from generate_series($2::int, $3::int) n`,
    [passwordHash, from, to],
  );
}

/** `perUser` live sessions for users from..to (expire in 20–30 days, used within the last day). */
async function seedLiveSessions(c, { from, to, perUser }) {
  const users = to - from + 1;
  await c.query(
    `insert into sessions (user_id, refresh_token_hash, user_agent, ip_address, device_name, device_type,
                           expires_at, is_revoked, created_at, last_used_at)
     select ${userId('u')},
            encode(sha256(convert_to('seed-live:' || i, 'UTF8')), 'hex'),
            'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0 bench/' || k,
            ('10.' || (u % 250) || '.' || (k % 250) || '.' || ((u / 250) % 250))::inet,
            'Device ' || k,
            (array['mobile', 'desktop', 'web', 'unknown'])[1 + (u + k) % 4],
            now() + interval '20 days' + (i % 864000) * interval '1 second',
            false,
            now() - interval '60 days' + (i % 86400) * interval '1 second',
            now() - (i % 86400) * interval '1 second'
       from (select i, $1::int + (i % $2::int) as u, i / $2::int as k
               from generate_series(0, $2::int * $3::int - 1) i) g`,
    [from, users, perUser],
  );
}

/**
 * `count` sessions that ended long ago (past the 30-day retention), spread over users from..to:
 * 90% expired 60+ days ago, 10% revoked 50 days ago. Appended after the live rows.
 */
async function seedEndedSessions(c, { from, to, count }) {
  const users = to - from + 1;
  await c.query(
    `insert into sessions (user_id, refresh_token_hash, user_agent, ip_address, device_name, device_type,
                           expires_at, is_revoked, revoked_at, revoked_reason, created_at, last_used_at)
     select ${userId(`$1::int + (i % $2::int)`)},
            encode(sha256(convert_to('seed-ended:' || i || ':' || clock_timestamp(), 'UTF8')), 'hex'),
            'Mozilla/5.0 (Android 14; Mobile) bench-ended',
            ('10.200.' || (i % 250) || '.' || ((i / 250) % 250))::inet,
            null,
            'mobile',
            case when i % 10 = 0 then now() - interval '10 days' else now() - interval '60 days' - (i % 86400) * interval '1 second' end,
            i % 10 = 0,
            case when i % 10 = 0 then now() - interval '50 days' end,
            case when i % 10 = 0 then 'logout' end,
            now() - interval '100 days',
            now() - interval '99 days'
       from generate_series(0, $3::int - 1) i`,
    [from, users, count],
  );
}

async function settle(c, tables = ['users', 'sessions']) {
  await c.query(`VACUUM (ANALYZE) ${tables.join(', ')}`);
  await c.query('CHECKPOINT');
}

async function counts(c) {
  const { rows } = await c.query(
    `select (select count(*) from users)::int as users,
            (select count(*) from sessions)::int as sessions,
            (select count(*) from sessions where least(expires_at, revoked_at) < now() - interval '30 days')::int as ended,
            pg_total_relation_size('sessions') as sessions_bytes`,
  );
  return rows[0];
}

module.exports = { seedUsers, seedLiveSessions, seedEndedSessions, settle, counts, userIdSql: userId };
