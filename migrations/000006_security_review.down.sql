REVOKE UPDATE (user_agent) ON sessions FROM nest_rls_runtime;

CREATE OR REPLACE FUNCTION auth_find_login(p_email TEXT)
RETURNS TABLE (id UUID, password_hash TEXT, is_active BOOLEAN)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
  SELECT u.id, u.password_hash, u.is_active
  FROM public.users u
  WHERE lower(u.email) = lower(btrim(p_email))
$$;
COMMENT ON FUNCTION auth_find_login(TEXT) IS
'Pre-authentication lookup for sign-in (bypasses RLS on purpose; EXECUTE only for nest_rls_runtime).';

-- Emails stay as normalised: lower-case and trimmed, which the old rule matches too.
DROP INDEX users_email_key;
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));
COMMENT ON COLUMN users.email IS 'Sign-in email, stored trimmed; unique case-insensitively.';
