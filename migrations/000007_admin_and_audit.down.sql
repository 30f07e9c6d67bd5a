-- Reverts 000007_admin_and_audit. The audit log is dropped with its rows.
DROP FUNCTION users_set_role(TEXT, TEXT);
DROP FUNCTION admin_list_auth_events(UUID, TIMESTAMPTZ, UUID, INTEGER);
DROP FUNCTION admin_set_user_active(UUID, BOOLEAN, TIMESTAMPTZ, INET, TEXT, TEXT);
DROP FUNCTION admin_revoke_sessions_by_ip(INET, TEXT, TIMESTAMPTZ, INET, TEXT, TEXT);
DROP FUNCTION admin_list_sessions_by_ip(INET, TIMESTAMPTZ, INET, UUID, INTEGER);
DROP FUNCTION admin_revoke_session(UUID, TEXT, TIMESTAMPTZ, INET, TEXT, TEXT);
DROP FUNCTION admin_revoke_user_sessions(UUID, TEXT, TIMESTAMPTZ, INET, TEXT, TEXT);
DROP FUNCTION admin_list_user_sessions(UUID, TIMESTAMPTZ, TIMESTAMPTZ, UUID, INTEGER);
DROP FUNCTION admin_check_limit(INTEGER);
DROP FUNCTION admin_check_reason(TEXT);
DROP FUNCTION purge_old_auth_events(INTERVAL, INTEGER);

DROP TABLE auth_events;
DROP FUNCTION auth_events_refuse_update();

DROP FUNCTION admin_caller();
DROP FUNCTION auth_is_admin();

REVOKE SELECT (user_id, user_agent, ip_address, device_name, device_type, is_revoked, created_at, last_used_at),
       UPDATE (is_revoked, revoked_reason)
  ON sessions FROM nest_rls_definer;
REVOKE UPDATE (is_active) ON users FROM nest_rls_definer;

-- Back to 000003's grant (revoking the table privilege also revokes the column ones).
REVOKE INSERT ON users FROM nest_rls_runtime;
GRANT INSERT ON users TO nest_rls_runtime;

ALTER TABLE users DROP CONSTRAINT users_role_valid;
ALTER TABLE users DROP COLUMN role;
