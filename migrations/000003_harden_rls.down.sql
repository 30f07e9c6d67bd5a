REVOKE EXECUTE ON FUNCTION auth_find_login(TEXT) FROM nest_rls_runtime;
DROP FUNCTION auth_find_login(TEXT);
REVOKE SELECT (id, email, password_hash, is_active) ON users FROM nest_rls_definer;

DROP POLICY users_self_isolation ON users;
ALTER TABLE users NO FORCE ROW LEVEL SECURITY;
ALTER TABLE users DISABLE ROW LEVEL SECURITY;

ALTER POLICY sessions_user_isolation ON sessions
USING (user_id = current_setting('app.current_user_id', true)::UUID)
WITH CHECK (user_id = current_setting('app.current_user_id', true)::UUID);
ALTER TABLE sessions NO FORCE ROW LEVEL SECURITY;

REVOKE ALL ON sessions FROM nest_rls_runtime;
REVOKE ALL ON users FROM nest_rls_runtime;
REVOKE USAGE ON SCHEMA public FROM nest_rls_runtime, nest_rls_definer;

-- The roles are cluster-wide: drop them only when no other database on the cluster still uses them.
DO $$
BEGIN
  BEGIN
    DROP ROLE IF EXISTS nest_rls_definer;
  EXCEPTION WHEN dependent_objects_still_exist THEN NULL;
  END;
  BEGIN
    DROP ROLE IF EXISTS nest_rls_runtime;
  EXCEPTION WHEN dependent_objects_still_exist THEN NULL;
  END;
END
$$;
