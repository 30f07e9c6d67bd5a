-- 000004_session_purge: removing sessions that ended (expired or revoked) long enough ago.

-- Why: a session "ended" at least(expires_at, revoked_at) (LEAST ignores NULL). The seed's
-- expires_at index covers only unrevoked rows, so revoked rows had no index for the purge; one
-- expression index serves both kinds as a single range scan.
CREATE INDEX idx_sessions_ended_at ON sessions ((LEAST(expires_at, revoked_at)));

-- The purge must see every user's rows, so it is a SECURITY DEFINER door, narrow on purpose: it
-- only ever deletes sessions that ended more than p_retention ago (never a live one, whatever the
-- caller passes), at most p_limit rows per call, skipping rows another transaction holds.
CREATE FUNCTION purge_ended_sessions(p_retention INTERVAL, p_limit INTEGER)
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
  -- Oldest first along idx_sessions_ended_at, and the ids go in as an array so the DELETE finds its
  -- rows by primary key. (A join with an unordered batch let the planner scan the whole table for
  -- every batch, each scan wading through the dead rows of the batches before.)
  DELETE FROM public.sessions s
  WHERE s.id = ANY (ARRAY(
    SELECT d.id FROM public.sessions d
    WHERE LEAST(d.expires_at, d.revoked_at) < now() - p_retention
    ORDER BY LEAST(d.expires_at, d.revoked_at)
    LIMIT p_limit
    FOR UPDATE SKIP LOCKED
  ));
  GET DIAGNOSTICS removed = ROW_COUNT;
  RETURN removed;
END
$$;
-- Why UPDATE (revoked_at): row locks (FOR UPDATE ... SKIP LOCKED above) require UPDATE privilege on at
-- least one column, and without it every purge failed with "permission denied for table sessions"
-- (found by test/rls-database.spec.ts). The function never updates; one column is the least to grant,
-- and nest_rls_definer is NOLOGIN with no members, so only this function's fixed SQL can use it.
GRANT SELECT (id, expires_at, revoked_at), UPDATE (revoked_at), DELETE ON sessions TO nest_rls_definer;
ALTER FUNCTION purge_ended_sessions(INTERVAL, INTEGER) OWNER TO nest_rls_definer;
REVOKE ALL ON FUNCTION purge_ended_sessions(INTERVAL, INTEGER) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION purge_ended_sessions(INTERVAL, INTEGER) TO nest_rls_runtime;
COMMENT ON FUNCTION purge_ended_sessions(INTERVAL, INTEGER) IS
'Deletes up to p_limit sessions that expired or were revoked more than p_retention ago; returns the count.';
