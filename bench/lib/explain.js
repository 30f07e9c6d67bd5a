'use strict';
// EXPLAIN (ANALYZE, BUFFERS) of every statement on the hot paths, run the way the service runs
// it: as the runtime role, inside a transaction whose first statement is set_config(user id),
// rolled back afterwards. The two SECURITY DEFINER functions (sign-in lookup, purge) are also
// explained from the inside with auto_explain (nested statements, sent back as NOTICEs).
const { randomUUID, createHash } = require('node:crypto');
const { Client } = require('pg');
const { SQL, RLS_SETTING } = require('../hot-paths');

const DEFAULT_SET_CONFIG = { text: SQL.setConfig, extra: [] };

const SEQ_SCAN = /Seq Scan on (sessions|users)\b/;

async function connect(url, app = 'nra-bench-explain') {
  const c = new Client({ connectionString: url, application_name: app });
  await c.connect();
  return c;
}

const planText = (rows) => rows.map((r) => r['QUERY PLAN']).join('\n');

/** EXPLAIN ANALYZE as the runtime role, as `userId`, rolled back. Runs it once first (warm). */
async function explainAsUser(client, userId, text, values) {
  const once = async (explain) => {
    await client.query(SQL.begin);
    try {
      await client.query(SQL.setConfig, [RLS_SETTING, userId ?? '']);
      return await client.query(explain ? `EXPLAIN (ANALYZE, BUFFERS) ${text}` : text, values);
    } finally {
      await client.query(SQL.rollback);
    }
  };
  await once(false);
  return planText((await once(true)).rows);
}

/** Runs `sql` in an owner session with auto_explain sending every (nested) plan as a NOTICE. */
async function autoExplain(ownerUrl, calls) {
  const c = await connect(ownerUrl);
  const notices = [];
  c.on('notice', (n) => notices.push(n.message));
  try {
    await c.query("LOAD 'auto_explain'");
    for (const s of [
      'auto_explain.log_min_duration = 0',
      'auto_explain.log_analyze = on',
      'auto_explain.log_buffers = on',
      'auto_explain.log_nested_statements = on',
      "auto_explain.log_level = 'notice'",
    ]) {
      await c.query(`SET ${s}`);
    }
    const out = [];
    for (const { sql, rollback } of calls) {
      notices.length = 0;
      const t = process.hrtime.bigint();
      if (rollback) await c.query(SQL.begin);
      await c.query(sql);
      if (rollback) await c.query(SQL.rollback);
      out.push({ ms: Number(process.hrtime.bigint() - t) / 1e6, plans: notices.slice() });
    }
    return out;
  } finally {
    await c.end().catch(() => undefined);
  }
}

/**
 * Explains the hot paths for one seeded user and session. Returns [{ path, name, role, sql, plan, seqScan }].
 * `user` = { userId, sessionId, email }.
 */
async function explainHotPaths({ ownerUrl, runtimeUrl, user, setConfig = DEFAULT_SET_CONFIG }) {
  const rt = await connect(runtimeUrl);
  const owner = await connect(ownerUrl);
  const now = new Date();
  const later = new Date(now.getTime() + 30 * 86_400_000);
  const hash = createHash('sha256').update(randomUUID()).digest('hex');
  const out = [];
  const add = async (path, name, sql, run, role = 'runtime role, set_config(user)') => {
    const plan = await run();
    out.push({ path, name, role, sql, plan, seqScan: SEQ_SCAN.test(plan) });
  };
  try {
    const asUser = (text, values) => () => explainAsUser(rt, user.userId, text, values);
    const setConfigValues = [RLS_SETTING, user.userId, ...setConfig.extra];
    await add(
      'S1 S2 S3 S4',
      'set_config',
      `${setConfig.text}  -- ${setConfigValues.map((v, i) => `$${i + 1} = '${i === 1 ? '<user id>' : v}'`).join(', ')}`,
      asUser(setConfig.text, setConfigValues),
    );
    await add('S1 S4', 'session check (isActive)', SQL.isActive(user.sessionId, now), asUser(SQL.isActive(user.sessionId, now)));
    await add('S1', 'list (listActive)', SQL.listActive(now), asUser(SQL.listActive(now)));
    await add('S2', 'lock (lockForRefresh)', SQL.lockForRefresh(user.sessionId), asUser(SQL.lockForRefresh(user.sessionId)));
    await add('S2', 'rotate (nativeUpdate)', SQL.rotate(user.sessionId, hash, now, later), asUser(SQL.rotate(user.sessionId, hash, now, later)));
    await add('S4', 'user (findById)', SQL.findUser(user.userId), asUser(SQL.findUser(user.userId)));
    await add('S3', 'sign-in lookup (auth_find_login)', SQL.findForLogin(user.email), () => explainAsUser(rt, null, SQL.findForLogin(user.email)), "runtime role, set_config('')");
    await add(
      'S3',
      'sign-in lookup, inside the SECURITY DEFINER function',
      SQL.findForLoginInner(user.email),
      async () => {
        const [r] = await autoExplain(ownerUrl, [{ sql: SQL.findForLogin(user.email) }]);
        return r.plans.join('\n\n');
      },
      'owner session + auto_explain (nested statements)',
    );
    const newSession = { id: randomUUID(), userId: user.userId, hash, createdAt: now, expiresAt: later };
    await add('S3', 'open session (insertSession)', SQL.insertSession(newSession), asUser(SQL.insertSession(newSession)));
    // GET /admin/sessions?ip= (issue 14): the statement inside the SECURITY DEFINER function, run as the
    // seeded user made admin for the call (rolled back), so its plan shows idx_sessions_ip_address or not.
    const adminIp = `select count(*) from admin_list_sessions_by_ip('10.1.0.0/16', now(), null, null, 51)`;
    await add(
      'admin',
      'sessions by IP (admin_list_sessions_by_ip), inside the SECURITY DEFINER function',
      adminIp,
      async () => {
        if (!/^[0-9a-f-]{36}$/i.test(user.userId)) throw new Error('unexpected user id');
        const asAdmin = `update users set role = 'admin' where id = '${user.userId}'; select set_config('${RLS_SETTING}', '${user.userId}', true); ${adminIp}`;
        const [r] = await autoExplain(ownerUrl, [{ sql: asAdmin, rollback: true }]);
        return r.plans.filter((p) => p.includes('public.sessions')).join('\n\n');
      },
      'owner session + auto_explain (nested statements), caller made admin in a rolled-back transaction',
    );
  } finally {
    await rt.end().catch(() => undefined);
    await owner.end().catch(() => undefined);
  }
  return out;
}

/**
 * The purge's DELETE, from inside purge_ended_sessions, for `calls` consecutive calls in one session
 * (each rolled back), as the CLI's pooled connection would run them: PL/pgSQL caches the statement's
 * plan and may switch to a generic plan after five calls. Returns [{ call, ms, plan, seqScan }].
 */
async function explainPurge({ ownerUrl, retentionSeconds, batchSize, calls = 7 }) {
  const results = await autoExplain(
    ownerUrl,
    Array.from({ length: calls }, () => ({ sql: SQL.purgeBatch(retentionSeconds, batchSize), rollback: true })),
  );
  return results.map((r, i) => {
    const plan = r.plans.filter((p) => /DELETE|doomed/i.test(p)).join('\n\n') || r.plans.join('\n\n');
    return { call: i + 1, ms: r.ms, plan, seqScan: SEQ_SCAN.test(plan) };
  });
}

module.exports = { explainHotPaths, explainPurge, SEQ_SCAN };
