/**
 * The statements of the request hot paths, written once: the repositories send them (with `?`
 * placeholders, bound by `query()`), and the benchmark's floors replay them (bench/hot-paths.js, from
 * dist/) in the same form — so a change here changes both.
 *
 * Hot paths are hand-written SQL with bound parameters returning plain rows (no entity hydration,
 * no unit-of-work flush); everything else goes through the ORM's repositories. `p(i)` stands for the
 * i-th value.
 */
export type Placeholder = (index: number) => string;

export const HOT_PATH_SQL = {
  /** SessionsRepository.isActive — the per-request session check. [sessionId, now] */
  isActive: (p: Placeholder) => `select 1 from sessions s join users u on u.id = s.user_id
        where s.id = ${p(0)} and s.is_revoked = false and s.expires_at > ${p(1)} and u.is_active`,
  /** SessionsRepository.listActive — GET /sessions. [now] */
  listActive: (p: Placeholder) => `select id, device_name, device_type, user_agent, ip_address, created_at, last_used_at, expires_at from sessions
        where is_revoked = false and expires_at > ${p(0)} order by last_used_at desc, id asc`,
  /** SessionsRepository.lockForRefresh — POST /auth/refresh. [sessionId] */
  lockForRefresh: (p: Placeholder) => `select s.id, s.user_id, s.refresh_token_hash, s.user_agent, s.is_revoked, s.created_at, s.last_used_at, s.expires_at,
              u.is_active as user_active
         from sessions s join users u on u.id = s.user_id
        where s.id = ${p(0)} for update of s`,
  /** SessionsRepository.rotate — POST /auth/refresh. [hash, lastUsedAt, expiresAt, userAgent, sessionId] */
  rotate: (p: Placeholder) =>
    `update sessions set refresh_token_hash = ${p(0)}, last_used_at = ${p(1)}, expires_at = ${p(2)}, user_agent = coalesce(${p(3)}, user_agent) where id = ${p(4)}`,
  /** UsersRepository.findProfile — GET /auth/me. [userId] */
  findProfile: (p: Placeholder) => `select id, email, display_name, created_at from users where id = ${p(0)}`,
  /** UsersRepository.findForLogin — POST /auth/login, through the SECURITY DEFINER door. [email] */
  findForLogin: (p: Placeholder) => `select id, password_hash, is_active from auth_find_login(${p(0)})`,
} as const;

export type HotPath = keyof typeof HOT_PATH_SQL;

/** Each statement with `?` placeholders, as `query()` takes it. */
export const HOT_PATH_QUERIES = Object.fromEntries(
  Object.entries(HOT_PATH_SQL).map(([name, sql]) => [name, sql(() => '?')]),
) as Record<HotPath, string>;
