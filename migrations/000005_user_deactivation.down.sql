DROP TRIGGER users_deactivation_revokes_sessions ON users;
DROP FUNCTION users_revoke_sessions_on_deactivation();
