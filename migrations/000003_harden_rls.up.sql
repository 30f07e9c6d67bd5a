-- 000003_harden_rls: the deviations from the seed that make its RLS hold in production.
-- Each change below says why. The seed migration (000002) stays byte-for-byte as specified.

-- Roles are cluster-wide, so they are created only when missing. Several databases on one cluster
-- (tests, staging) may run this at the same moment; the losers of that race skip quietly.
--   nest_rls_runtime: what the application's login role is a member of. Not superuser, not
--     BYPASSRLS, owns nothing: RLS applies to every query it runs.
--   nest_rls_definer: owner of the SECURITY DEFINER doors below. NOLOGIN, so nobody can connect as
--     it; BYPASSRLS, because with FORCE ROW LEVEL SECURITY even the table owner is filtered.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'nest_rls_runtime') THEN
    BEGIN
      CREATE ROLE nest_rls_runtime NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'nest_rls_definer') THEN
    BEGIN
      CREATE ROLE nest_rls_definer NOLOGIN NOSUPERUSER BYPASSRLS NOCREATEDB NOCREATEROLE;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END;
  END IF;
END
$$;

-- Only the grants the service needs. Identity and ownership columns (id, user_id, created_at,
-- is_active) are not updatable by the runtime at all.
GRANT USAGE ON SCHEMA public TO nest_rls_runtime, nest_rls_definer;
GRANT SELECT, INSERT ON users TO nest_rls_runtime;
GRANT UPDATE (email, password_hash, display_name, password_changed_at, updated_at) ON users TO nest_rls_runtime;
GRANT SELECT, INSERT, DELETE ON sessions TO nest_rls_runtime;
GRANT UPDATE (refresh_token_hash, device_name, expires_at, is_revoked, revoked_at, revoked_reason, last_used_at)
  ON sessions TO nest_rls_runtime;

-- Why: the owner bypasses RLS unless it is forced. Forcing it means a mistaken owner connection
-- sees nothing rather than everything.
ALTER TABLE sessions FORCE ROW LEVEL SECURITY;

-- Why: after a transaction-local set_config(..., true), a pooled connection reports
-- current_setting('app.current_user_id', true) as '' rather than NULL, and the seed's plain
-- '::UUID' cast then raises "invalid input syntax for type uuid". nullif turns '' into NULL, so an
-- anonymous or reused connection sees zero rows instead of failing. Name and comment are kept.
ALTER POLICY sessions_user_isolation ON sessions
USING (user_id = nullif(current_setting('app.current_user_id', true), '')::uuid)
WITH CHECK (user_id = nullif(current_setting('app.current_user_id', true), '')::uuid);

-- Why: password hashes live in users; a user sees and changes only their own row, like sessions.
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
CREATE POLICY users_self_isolation ON users
FOR ALL
USING (id = nullif(current_setting('app.current_user_id', true), '')::uuid)
WITH CHECK (id = nullif(current_setting('app.current_user_id', true), '')::uuid);
COMMENT ON POLICY users_self_isolation ON users IS
'A user sees and changes only their own account row.';

-- The one pre-authentication door: sign-in must find an account by email before it knows the user
-- id that RLS needs. It returns one row for one exact (case-insensitive) email and nothing else.
CREATE FUNCTION auth_find_login(p_email TEXT)
RETURNS TABLE (id UUID, password_hash TEXT, is_active BOOLEAN)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
  SELECT u.id, u.password_hash, u.is_active
  FROM public.users u
  WHERE lower(u.email) = lower(btrim(p_email))
$$;
GRANT SELECT (id, email, password_hash, is_active) ON users TO nest_rls_definer;
ALTER FUNCTION auth_find_login(TEXT) OWNER TO nest_rls_definer;
REVOKE ALL ON FUNCTION auth_find_login(TEXT) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auth_find_login(TEXT) TO nest_rls_runtime;
COMMENT ON FUNCTION auth_find_login(TEXT) IS
'Pre-authentication lookup for sign-in (bypasses RLS on purpose; EXECUTE only for nest_rls_runtime).';
