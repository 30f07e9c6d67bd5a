-- 000007_admin_and_audit: operators. An account role that the database decides on, the admin doors
-- (SECURITY DEFINER functions that check the caller's own row before anything else), and an
-- append-only audit log under RLS. The seed's sessions table is not changed; its two unused parts
-- are put to work: revoked_reason's admin_action / suspicious_activity, and idx_sessions_ip_address.

-- =============================================================================
-- Roles
-- =============================================================================
ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'user';
ALTER TABLE users ADD CONSTRAINT users_role_valid CHECK (role IN ('user', 'admin'));
COMMENT ON COLUMN users.role IS
'user or admin. Changed only over the owner connection (npm run users:grant-admin / users:revoke-admin).';

-- Why: 000003 granted INSERT on the whole table. With a role column that would let the runtime insert
-- an admin; now it can insert only the columns registration writes, so a new account is always a
-- 'user'. (Revoking the table privilege also revokes column ones, hence this order.) The runtime has
-- no UPDATE on role either (000003's column grants).
REVOKE INSERT ON users FROM nest_rls_runtime;
GRANT INSERT (id, email, password_hash, display_name, is_active, password_changed_at, created_at, updated_at)
  ON users TO nest_rls_runtime;

-- Whether the caller (app.current_user_id) is an active admin, read from the caller's own row on
-- every call: a JWT claim or a cached flag would outlive a demotion, this does not.
CREATE FUNCTION auth_is_admin() RETURNS BOOLEAN
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
  SELECT EXISTS (
    SELECT 1 FROM public.users u
     WHERE u.id = nullif(current_setting('app.current_user_id', true), '')::uuid
       AND u.role = 'admin' AND u.is_active
  )
$$;

-- The first statement of every admin door below: the caller's id if it is an active admin, otherwise
-- SQLSTATE 42501 (answered as 403). The actor of an admin action is always this id, never a parameter,
-- so nobody can act, or be logged, as someone else. Not executable by the runtime on its own.
CREATE FUNCTION admin_caller() RETURNS UUID
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
  caller UUID := nullif(current_setting('app.current_user_id', true), '')::uuid;
BEGIN
  IF caller IS NULL OR NOT EXISTS (SELECT 1 FROM public.users u WHERE u.id = caller AND u.role = 'admin' AND u.is_active) THEN
    RAISE EXCEPTION 'admin role required' USING ERRCODE = '42501';
  END IF;
  RETURN caller;
END
$$;

-- =============================================================================
-- Audit log
-- =============================================================================
-- One row per security event. No foreign key to users: an account's events outlive the account until
-- AUDIT_RETENTION trims them (a cascade would delete them, and SET NULL would update them).
CREATE TABLE auth_events (
  id UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  type TEXT NOT NULL,
  user_id UUID NOT NULL,
  actor_id UUID,
  session_id UUID,
  ip_address INET,
  user_agent TEXT,
  reason TEXT,
  detail TEXT,
  CONSTRAINT auth_events_type_format CHECK (type ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$' AND length(type) <= 64),
  CONSTRAINT auth_events_reason_length CHECK (length(reason) <= 64),
  CONSTRAINT auth_events_user_agent_length CHECK (length(user_agent) <= 512),
  CONSTRAINT auth_events_detail_length CHECK (length(detail) <= 500)
);

-- A user's events, newest first (GET /auth/events, GET /admin/users/{id}/events, cursor pagination).
CREATE INDEX idx_auth_events_user_created ON auth_events (user_id, created_at DESC, id DESC);
-- The purge: oldest first.
CREATE INDEX idx_auth_events_created_at ON auth_events (created_at);

COMMENT ON TABLE auth_events IS
'Append-only security log: sign-ins, revocations, admin actions. A user reads their own rows (RLS); admins read through admin_list_auth_events.';
COMMENT ON COLUMN auth_events.type IS 'What happened, e.g. auth.login.succeeded, session.revoked, user.deactivated.';
COMMENT ON COLUMN auth_events.user_id IS 'The account the event is about.';
COMMENT ON COLUMN auth_events.actor_id IS 'Who caused it: the user, an admin, or NULL for the service itself (idle timeout, token reuse, session cap).';
COMMENT ON COLUMN auth_events.session_id IS 'The session concerned, if any.';
COMMENT ON COLUMN auth_events.ip_address IS 'Client address of the request that caused the event, if known.';
COMMENT ON COLUMN auth_events.user_agent IS 'Client user agent of that request, if known (at most 512 characters).';
COMMENT ON COLUMN auth_events.reason IS 'Revocation reason, failure reason or new role.';
COMMENT ON COLUMN auth_events.detail IS 'Free text (never a secret): a reuse detail, or an admin''s note.';

ALTER TABLE auth_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE auth_events FORCE ROW LEVEL SECURITY;

CREATE POLICY auth_events_own_read ON auth_events
FOR SELECT
USING (user_id = nullif(current_setting('app.current_user_id', true), '')::uuid);
COMMENT ON POLICY auth_events_own_read ON auth_events IS 'A user reads only the events about their own account.';

-- Why actor_id IS NULL OR self: the runtime records what the caller did or what the service did to the
-- caller; an event naming another actor (an admin) is written only by the admin doors below.
CREATE POLICY auth_events_own_insert ON auth_events
FOR INSERT
WITH CHECK (
  user_id = nullif(current_setting('app.current_user_id', true), '')::uuid
  AND (actor_id IS NULL OR actor_id = user_id)
);
COMMENT ON POLICY auth_events_own_insert ON auth_events IS
'The runtime records events about the current user only, as their own actions or the service''s.';

-- Append-only: the runtime gets INSERT and SELECT only, never UPDATE or DELETE; the purge door below
-- deletes rows past the retention. The trigger refuses an UPDATE from anyone, the owner included.
GRANT SELECT, INSERT ON auth_events TO nest_rls_runtime;

CREATE FUNCTION auth_events_refuse_update() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
  RAISE EXCEPTION 'auth_events is append-only' USING ERRCODE = '42501';
END
$$;
CREATE TRIGGER auth_events_append_only BEFORE UPDATE ON auth_events
FOR EACH STATEMENT EXECUTE FUNCTION auth_events_refuse_update();
COMMENT ON FUNCTION auth_events_refuse_update() IS 'Refuses every UPDATE of auth_events: the log is append-only.';

-- The purge door, like purge_ended_sessions (000004): only rows older than p_retention, at most
-- p_limit per call. No FOR UPDATE here: audit rows are never updated, so only a concurrent purge
-- could hold them (it then deletes them itself), and row locks would need an UPDATE grant.
CREATE FUNCTION purge_old_auth_events(p_retention INTERVAL, p_limit INTEGER)
RETURNS INTEGER
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
  removed INTEGER;
BEGIN
  IF p_retention IS NULL OR p_retention < INTERVAL '0' THEN
    RAISE EXCEPTION 'retention must be a non-negative interval' USING ERRCODE = '22023';
  END IF;
  IF p_limit IS NULL OR p_limit < 1 OR p_limit > 100000 THEN
    RAISE EXCEPTION 'limit must be between 1 and 100000' USING ERRCODE = '22023';
  END IF;
  DELETE FROM public.auth_events e
  WHERE e.id = ANY (ARRAY(
    SELECT d.id FROM public.auth_events d
    WHERE d.created_at < now() - p_retention
    ORDER BY d.created_at
    LIMIT p_limit
  ));
  GET DIAGNOSTICS removed = ROW_COUNT;
  RETURN removed;
END
$$;
COMMENT ON FUNCTION purge_old_auth_events(INTERVAL, INTEGER) IS
'Deletes up to p_limit audit rows older than p_retention; returns the count.';

-- =============================================================================
-- Admin doors: each one starts with admin_caller() and writes its own audit rows, in the same
-- transaction, with the admin as actor: an admin action cannot happen without its record.
-- =============================================================================

-- Revocation reasons an admin may give (the seed's revoked_reason comment names admin_action).
CREATE FUNCTION admin_check_reason(p_reason TEXT) RETURNS VOID
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
  IF p_reason IS NULL OR p_reason NOT IN ('admin_action', 'suspicious_activity') THEN
    RAISE EXCEPTION 'reason must be admin_action or suspicious_activity' USING ERRCODE = '22023';
  END IF;
END
$$;

CREATE FUNCTION admin_check_limit(p_limit INTEGER) RETURNS VOID
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
  IF p_limit IS NULL OR p_limit < 1 OR p_limit > 1000 THEN
    RAISE EXCEPTION 'limit must be between 1 and 1000' USING ERRCODE = '22023';
  END IF;
END
$$;

-- A user's active sessions (never the refresh token hash), most recently used first, after the cursor
-- (p_after_used, p_after_id). SQLSTATE P0002 when the user does not exist.
CREATE FUNCTION admin_list_user_sessions(p_user UUID, p_now TIMESTAMPTZ, p_after_used TIMESTAMPTZ, p_after_id UUID, p_limit INTEGER)
RETURNS TABLE (id UUID, user_id UUID, device_name TEXT, device_type TEXT, user_agent TEXT, ip_address INET,
               created_at TIMESTAMPTZ, last_used_at TIMESTAMPTZ, expires_at TIMESTAMPTZ, page_key TEXT)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
  PERFORM public.admin_caller();
  PERFORM public.admin_check_limit(p_limit);
  IF NOT EXISTS (SELECT 1 FROM public.users u WHERE u.id = p_user) THEN
    RAISE EXCEPTION 'no such user' USING ERRCODE = 'P0002';
  END IF;
  RETURN QUERY
    SELECT s.id, s.user_id, s.device_name, s.device_type, s.user_agent, s.ip_address, s.created_at, s.last_used_at, s.expires_at,
           to_char(s.last_used_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
      FROM public.sessions s
     WHERE s.user_id = p_user AND s.is_revoked = FALSE AND s.expires_at > p_now
       AND (p_after_id IS NULL OR (s.last_used_at, s.id) < (p_after_used, p_after_id))
     ORDER BY s.last_used_at DESC, s.id DESC
     LIMIT p_limit;
END
$$;

-- Revokes every active session of a user; returns how many. P0002 when the user does not exist.
CREATE FUNCTION admin_revoke_user_sessions(p_user UUID, p_reason TEXT, p_now TIMESTAMPTZ, p_ip INET, p_user_agent TEXT, p_detail TEXT)
RETURNS INTEGER
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
  actor UUID := public.admin_caller();
  revoked INTEGER;
BEGIN
  PERFORM public.admin_check_reason(p_reason);
  IF NOT EXISTS (SELECT 1 FROM public.users u WHERE u.id = p_user) THEN
    RAISE EXCEPTION 'no such user' USING ERRCODE = 'P0002';
  END IF;
  WITH r AS (
    UPDATE public.sessions s
       SET is_revoked = TRUE, revoked_at = GREATEST(p_now, s.created_at), revoked_reason = p_reason
     WHERE s.user_id = p_user AND s.is_revoked = FALSE AND s.expires_at > p_now
    RETURNING s.id, s.user_id
  )
  INSERT INTO public.auth_events (created_at, type, user_id, actor_id, session_id, ip_address, user_agent, reason, detail)
  SELECT p_now, 'session.revoked', r.user_id, actor, r.id, p_ip, left(p_user_agent, 512), p_reason, left(p_detail, 500) FROM r;
  GET DIAGNOSTICS revoked = ROW_COUNT;
  RETURN revoked;
END
$$;

-- Revokes one active session; returns its user's id, or NULL when no active session has that id.
CREATE FUNCTION admin_revoke_session(p_session UUID, p_reason TEXT, p_now TIMESTAMPTZ, p_ip INET, p_user_agent TEXT, p_detail TEXT)
RETURNS UUID
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
  actor UUID := public.admin_caller();
  owner_id UUID;
BEGIN
  PERFORM public.admin_check_reason(p_reason);
  UPDATE public.sessions s
     SET is_revoked = TRUE, revoked_at = GREATEST(p_now, s.created_at), revoked_reason = p_reason
   WHERE s.id = p_session AND s.is_revoked = FALSE AND s.expires_at > p_now
  RETURNING s.user_id INTO owner_id;
  IF owner_id IS NOT NULL THEN
    INSERT INTO public.auth_events (created_at, type, user_id, actor_id, session_id, ip_address, user_agent, reason, detail)
    VALUES (p_now, 'session.revoked', owner_id, actor, p_session, p_ip, left(p_user_agent, 512), p_reason, left(p_detail, 500));
  END IF;
  RETURN owner_id;
END
$$;

-- Active sessions whose IP is in p_network (an address or a subnet), across users, ordered by IP and
-- id, after the cursor (p_after_ip, p_after_id). `ip_address <<= network` with a constant network is
-- turned by PostgreSQL into a range on idx_sessions_ip_address (whose predicate, is_revoked = FALSE,
-- the query repeats). A cached generic plan would hold the network as a parameter and lose that, so
-- every call is planned with its values (plan_cache_mode).
CREATE FUNCTION admin_list_sessions_by_ip(p_network INET, p_now TIMESTAMPTZ, p_after_ip INET, p_after_id UUID, p_limit INTEGER)
RETURNS TABLE (id UUID, user_id UUID, device_name TEXT, device_type TEXT, user_agent TEXT, ip_address INET,
               created_at TIMESTAMPTZ, last_used_at TIMESTAMPTZ, expires_at TIMESTAMPTZ)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
SET plan_cache_mode = force_custom_plan
AS $$
BEGIN
  PERFORM public.admin_caller();
  PERFORM public.admin_check_limit(p_limit);
  IF p_network IS NULL THEN
    RAISE EXCEPTION 'network must not be null' USING ERRCODE = '22023';
  END IF;
  RETURN QUERY
    SELECT s.id, s.user_id, s.device_name, s.device_type, s.user_agent, s.ip_address, s.created_at, s.last_used_at, s.expires_at
      FROM public.sessions s
     WHERE s.ip_address <<= p_network AND s.is_revoked = FALSE AND s.expires_at > p_now
       AND (p_after_id IS NULL OR (s.ip_address >= p_after_ip AND (s.ip_address, s.id) > (p_after_ip, p_after_id)))
     ORDER BY s.ip_address, s.id
     LIMIT p_limit;
END
$$;

-- Revokes the active sessions admin_list_sessions_by_ip finds; returns how many.
CREATE FUNCTION admin_revoke_sessions_by_ip(p_network INET, p_reason TEXT, p_now TIMESTAMPTZ, p_ip INET, p_user_agent TEXT, p_detail TEXT)
RETURNS INTEGER
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
SET plan_cache_mode = force_custom_plan
AS $$
DECLARE
  actor UUID := public.admin_caller();
  revoked INTEGER;
BEGIN
  PERFORM public.admin_check_reason(p_reason);
  IF p_network IS NULL THEN
    RAISE EXCEPTION 'network must not be null' USING ERRCODE = '22023';
  END IF;
  WITH r AS (
    UPDATE public.sessions s
       SET is_revoked = TRUE, revoked_at = GREATEST(p_now, s.created_at), revoked_reason = p_reason
     WHERE s.ip_address <<= p_network AND s.is_revoked = FALSE AND s.expires_at > p_now
    RETURNING s.id, s.user_id
  )
  INSERT INTO public.auth_events (created_at, type, user_id, actor_id, session_id, ip_address, user_agent, reason, detail)
  SELECT p_now, 'session.revoked', r.user_id, actor, r.id, p_ip, left(p_user_agent, 512), p_reason, left(p_detail, 500) FROM r;
  GET DIAGNOSTICS revoked = ROW_COUNT;
  RETURN revoked;
END
$$;

-- Turns an account off or on. Deactivation revokes every unrevoked session first (admin_action, one
-- audit row each, the admin as actor), so 000005's trigger then finds none left; the account row is
-- locked, so a sign-in in flight (FOR SHARE) finishes first and one after it sees the account off.
-- Records user.deactivated / user.reactivated when the state changes. P0002 when the user does not exist.
CREATE FUNCTION admin_set_user_active(p_user UUID, p_active BOOLEAN, p_now TIMESTAMPTZ, p_ip INET, p_user_agent TEXT, p_detail TEXT)
RETURNS TABLE (id UUID, email TEXT, role TEXT, is_active BOOLEAN)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
  actor UUID := public.admin_caller();
  was BOOLEAN;
BEGIN
  IF p_active IS NULL THEN
    RAISE EXCEPTION 'active must not be null' USING ERRCODE = '22023';
  END IF;
  SELECT u.is_active INTO was FROM public.users u WHERE u.id = p_user FOR NO KEY UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no such user' USING ERRCODE = 'P0002';
  END IF;
  IF was AND NOT p_active THEN
    WITH r AS (
      UPDATE public.sessions s
         SET is_revoked = TRUE, revoked_at = GREATEST(p_now, s.created_at), revoked_reason = 'admin_action'
       WHERE s.user_id = p_user AND s.is_revoked = FALSE
      RETURNING s.id, s.user_id
    )
    INSERT INTO public.auth_events (created_at, type, user_id, actor_id, session_id, ip_address, user_agent, reason, detail)
    SELECT p_now, 'session.revoked', r.user_id, actor, r.id, p_ip, left(p_user_agent, 512), 'admin_action', left(p_detail, 500) FROM r;
  END IF;
  IF was IS DISTINCT FROM p_active THEN
    UPDATE public.users u SET is_active = p_active WHERE u.id = p_user;
    INSERT INTO public.auth_events (created_at, type, user_id, actor_id, session_id, ip_address, user_agent, reason, detail)
    VALUES (p_now, CASE WHEN p_active THEN 'user.reactivated' ELSE 'user.deactivated' END, p_user, actor, NULL, p_ip,
            left(p_user_agent, 512), 'admin_action', left(p_detail, 500));
  END IF;
  RETURN QUERY SELECT u.id, u.email, u.role, u.is_active FROM public.users u WHERE u.id = p_user;
END
$$;

-- A user's events, newest first, before the cursor (p_before_at, p_before_id). Also for accounts that
-- no longer exist: their events are kept until the retention trims them.
CREATE FUNCTION admin_list_auth_events(p_user UUID, p_before_at TIMESTAMPTZ, p_before_id UUID, p_limit INTEGER)
RETURNS TABLE (id UUID, created_at TIMESTAMPTZ, type TEXT, user_id UUID, actor_id UUID, session_id UUID, ip_address INET,
               user_agent TEXT, reason TEXT, detail TEXT, page_key TEXT)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
  PERFORM public.admin_caller();
  PERFORM public.admin_check_limit(p_limit);
  RETURN QUERY
    SELECT e.id, e.created_at, e.type, e.user_id, e.actor_id, e.session_id, e.ip_address, e.user_agent, e.reason, e.detail,
           to_char(e.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
      FROM public.auth_events e
     WHERE e.user_id = p_user
       AND (p_before_id IS NULL OR (e.created_at, e.id) < (p_before_at, p_before_id))
     ORDER BY e.created_at DESC, e.id DESC
     LIMIT p_limit;
END
$$;

-- For `npm run users:grant-admin` / `users:revoke-admin`: sets the role of the account with this
-- (normalised) email and records user.role_changed (actor NULL: the operator at the owner connection).
-- Returns the account and its previous role, or no row for an unknown email. Executable only by the
-- role that ran this migration (the owner connection), never by the runtime: a definer function so
-- that it works for a non-superuser owner under FORCE ROW LEVEL SECURITY too.
CREATE FUNCTION users_set_role(p_email TEXT, p_role TEXT)
RETURNS TABLE (user_id UUID, previous_role TEXT, role TEXT)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
  target UUID;
  previous TEXT;
BEGIN
  IF p_role IS NULL OR p_role NOT IN ('user', 'admin') THEN
    RAISE EXCEPTION 'role must be user or admin' USING ERRCODE = '22023';
  END IF;
  SELECT u.id, u.role INTO target, previous FROM public.users u WHERE u.email = p_email FOR NO KEY UPDATE;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  IF previous IS DISTINCT FROM p_role THEN
    UPDATE public.users u SET role = p_role WHERE u.id = target;
    INSERT INTO public.auth_events (type, user_id, actor_id, reason)
    VALUES ('user.role_changed', target, NULL, p_role);
  END IF;
  RETURN QUERY SELECT target, previous, p_role;
END
$$;

-- What the doors may touch, column by column (nest_rls_definer is NOLOGIN with no members: only the
-- functions' fixed SQL uses these). SELECT on sessions never includes refresh_token_hash.
GRANT SELECT (role), UPDATE (is_active, role) ON users TO nest_rls_definer;
GRANT SELECT (user_id, user_agent, ip_address, device_name, device_type, is_revoked, created_at, last_used_at),
      UPDATE (is_revoked, revoked_reason)
  ON sessions TO nest_rls_definer;
GRANT SELECT, INSERT, DELETE ON auth_events TO nest_rls_definer;

ALTER FUNCTION auth_is_admin() OWNER TO nest_rls_definer;
ALTER FUNCTION admin_check_reason(TEXT) OWNER TO nest_rls_definer;
ALTER FUNCTION admin_check_limit(INTEGER) OWNER TO nest_rls_definer;
ALTER FUNCTION admin_caller() OWNER TO nest_rls_definer;
ALTER FUNCTION purge_old_auth_events(INTERVAL, INTEGER) OWNER TO nest_rls_definer;
ALTER FUNCTION admin_list_user_sessions(UUID, TIMESTAMPTZ, TIMESTAMPTZ, UUID, INTEGER) OWNER TO nest_rls_definer;
ALTER FUNCTION admin_revoke_user_sessions(UUID, TEXT, TIMESTAMPTZ, INET, TEXT, TEXT) OWNER TO nest_rls_definer;
ALTER FUNCTION admin_revoke_session(UUID, TEXT, TIMESTAMPTZ, INET, TEXT, TEXT) OWNER TO nest_rls_definer;
ALTER FUNCTION admin_list_sessions_by_ip(INET, TIMESTAMPTZ, INET, UUID, INTEGER) OWNER TO nest_rls_definer;
ALTER FUNCTION admin_revoke_sessions_by_ip(INET, TEXT, TIMESTAMPTZ, INET, TEXT, TEXT) OWNER TO nest_rls_definer;
ALTER FUNCTION admin_set_user_active(UUID, BOOLEAN, TIMESTAMPTZ, INET, TEXT, TEXT) OWNER TO nest_rls_definer;
ALTER FUNCTION admin_list_auth_events(UUID, TIMESTAMPTZ, UUID, INTEGER) OWNER TO nest_rls_definer;
ALTER FUNCTION users_set_role(TEXT, TEXT) OWNER TO nest_rls_definer;

REVOKE ALL ON FUNCTION auth_is_admin() FROM PUBLIC;
REVOKE ALL ON FUNCTION admin_caller() FROM PUBLIC;
REVOKE ALL ON FUNCTION purge_old_auth_events(INTERVAL, INTEGER) FROM PUBLIC;
REVOKE ALL ON FUNCTION admin_check_reason(TEXT) FROM PUBLIC;
REVOKE ALL ON FUNCTION admin_check_limit(INTEGER) FROM PUBLIC;
REVOKE ALL ON FUNCTION admin_list_user_sessions(UUID, TIMESTAMPTZ, TIMESTAMPTZ, UUID, INTEGER) FROM PUBLIC;
REVOKE ALL ON FUNCTION admin_revoke_user_sessions(UUID, TEXT, TIMESTAMPTZ, INET, TEXT, TEXT) FROM PUBLIC;
REVOKE ALL ON FUNCTION admin_revoke_session(UUID, TEXT, TIMESTAMPTZ, INET, TEXT, TEXT) FROM PUBLIC;
REVOKE ALL ON FUNCTION admin_list_sessions_by_ip(INET, TIMESTAMPTZ, INET, UUID, INTEGER) FROM PUBLIC;
REVOKE ALL ON FUNCTION admin_revoke_sessions_by_ip(INET, TEXT, TIMESTAMPTZ, INET, TEXT, TEXT) FROM PUBLIC;
REVOKE ALL ON FUNCTION admin_set_user_active(UUID, BOOLEAN, TIMESTAMPTZ, INET, TEXT, TEXT) FROM PUBLIC;
REVOKE ALL ON FUNCTION admin_list_auth_events(UUID, TIMESTAMPTZ, UUID, INTEGER) FROM PUBLIC;
REVOKE ALL ON FUNCTION users_set_role(TEXT, TEXT) FROM PUBLIC;
REVOKE ALL ON FUNCTION auth_events_refuse_update() FROM PUBLIC;

-- admin_caller and the two checks are called only by the doors (their owner, nest_rls_definer);
-- users_set_role only by the owner connection.
GRANT EXECUTE ON FUNCTION users_set_role(TEXT, TEXT) TO CURRENT_USER;
GRANT EXECUTE ON FUNCTION
  auth_is_admin(),
  purge_old_auth_events(INTERVAL, INTEGER),
  admin_list_user_sessions(UUID, TIMESTAMPTZ, TIMESTAMPTZ, UUID, INTEGER),
  admin_revoke_user_sessions(UUID, TEXT, TIMESTAMPTZ, INET, TEXT, TEXT),
  admin_revoke_session(UUID, TEXT, TIMESTAMPTZ, INET, TEXT, TEXT),
  admin_list_sessions_by_ip(INET, TIMESTAMPTZ, INET, UUID, INTEGER),
  admin_revoke_sessions_by_ip(INET, TEXT, TIMESTAMPTZ, INET, TEXT, TEXT),
  admin_set_user_active(UUID, BOOLEAN, TIMESTAMPTZ, INET, TEXT, TEXT),
  admin_list_auth_events(UUID, TIMESTAMPTZ, UUID, INTEGER)
TO nest_rls_runtime;

COMMENT ON FUNCTION auth_is_admin() IS 'Whether the caller (app.current_user_id) is an active admin, from their users row.';
COMMENT ON FUNCTION admin_caller() IS 'The caller''s id if an active admin, else SQLSTATE 42501. First call of every admin door.';
COMMENT ON FUNCTION admin_check_reason(TEXT) IS 'Refuses revocation reasons other than admin_action and suspicious_activity (22023).';
COMMENT ON FUNCTION admin_check_limit(INTEGER) IS 'Refuses page sizes outside 1..1000 (22023).';
COMMENT ON FUNCTION admin_list_user_sessions(UUID, TIMESTAMPTZ, TIMESTAMPTZ, UUID, INTEGER) IS
'Admin door: a user''s active sessions, newest use first, keyset-paginated (bypasses RLS after admin_caller()).';
COMMENT ON FUNCTION admin_revoke_user_sessions(UUID, TEXT, TIMESTAMPTZ, INET, TEXT, TEXT) IS
'Admin door: revokes a user''s active sessions and records one session.revoked event each, the admin as actor.';
COMMENT ON FUNCTION admin_revoke_session(UUID, TEXT, TIMESTAMPTZ, INET, TEXT, TEXT) IS
'Admin door: revokes one active session, records session.revoked with the admin as actor; returns its user id or NULL.';
COMMENT ON FUNCTION admin_list_sessions_by_ip(INET, TIMESTAMPTZ, INET, UUID, INTEGER) IS
'Admin door: active sessions in an address or subnet, across users, through idx_sessions_ip_address.';
COMMENT ON FUNCTION admin_revoke_sessions_by_ip(INET, TEXT, TIMESTAMPTZ, INET, TEXT, TEXT) IS
'Admin door: revokes the active sessions in an address or subnet, one session.revoked event each.';
COMMENT ON FUNCTION admin_set_user_active(UUID, BOOLEAN, TIMESTAMPTZ, INET, TEXT, TEXT) IS
'Admin door: deactivates (revoking every session) or reactivates an account, with audit rows.';
COMMENT ON FUNCTION admin_list_auth_events(UUID, TIMESTAMPTZ, UUID, INTEGER) IS
'Admin door: a user''s audit events, newest first, keyset-paginated.';
COMMENT ON FUNCTION users_set_role(TEXT, TEXT) IS
'Owner connection only (npm run users:grant-admin / users:revoke-admin): sets an account''s role, recording user.role_changed.';
