-- 000006_security_review: changes from the security review of the first round. Each says why.

-- Why: emails were matched with PostgreSQL's lower(), whose answer depends on the server's locale,
-- while the per-account rate limit keyed on JavaScript's toLowerCase(); the two disagree on letters
-- such as 'İ' (U+0130), so guesses spread over such spellings escaped the limit and still reached
-- one account. The application now normalises an email once (src/users/email.ts: NFKC, trim, lower
-- case) and the database compares the stored value exactly. Existing rows get the old matching rule
-- applied once (lower(btrim())), which is what sign-in compared them with until now; two rows that
-- collide under it could never have both signed in, and the unique index below then names them.
UPDATE users SET email = lower(btrim(email)) WHERE email <> lower(btrim(email));
DROP INDEX users_email_lower_key;
CREATE UNIQUE INDEX users_email_key ON users (email);
COMMENT ON COLUMN users.email IS 'Sign-in email, as normalised by the application (NFKC, trimmed, lower case); unique.';

CREATE OR REPLACE FUNCTION auth_find_login(p_email TEXT)
RETURNS TABLE (id UUID, password_hash TEXT, is_active BOOLEAN)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
  SELECT u.id, u.password_hash, u.is_active
  FROM public.users u
  WHERE u.email = p_email
$$;
COMMENT ON FUNCTION auth_find_login(TEXT) IS
'Pre-authentication lookup for sign-in by normalised email (bypasses RLS on purpose; EXECUTE only for nest_rls_runtime).';

-- Why: a refresh replayed within the grace window gets the current token, which is what concurrent
-- tabs need; a replay from another client than the rotation it replays is treated as reuse. For that
-- each rotation stores the refreshing client's user agent (the seed's comment, 'Client user-agent
-- string', does not tie it to sign-in, unlike ip_address's 'at session creation').
GRANT UPDATE (user_agent) ON sessions TO nest_rls_runtime;
