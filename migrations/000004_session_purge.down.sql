REVOKE EXECUTE ON FUNCTION purge_ended_sessions(INTERVAL, INTEGER) FROM nest_rls_runtime;
DROP FUNCTION purge_ended_sessions(INTERVAL, INTEGER);
REVOKE SELECT (id, expires_at, revoked_at), UPDATE (revoked_at), DELETE ON sessions FROM nest_rls_definer;
DROP INDEX idx_sessions_ended_at;
