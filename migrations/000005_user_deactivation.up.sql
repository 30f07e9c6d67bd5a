-- 000005_user_deactivation: turning an account off (users.is_active = FALSE) ends its sessions.
-- The runtime role cannot change is_active (column grant, 000003); this is an administrator's act,
-- so revoked_reason is 'admin_action'. The trigger runs with the administrator's rights and, so that
-- it also works for a non-superuser owner under FORCE ROW LEVEL SECURITY, acts as that user for the
-- one statement and then puts the caller's app.current_user_id back.
CREATE FUNCTION users_revoke_sessions_on_deactivation() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
  caller TEXT := current_setting('app.current_user_id', true);
BEGIN
  PERFORM set_config('app.current_user_id', NEW.id::text, true);
  UPDATE public.sessions
     SET is_revoked = TRUE,
         revoked_at = GREATEST(NOW(), created_at),
         revoked_reason = 'admin_action'
   WHERE user_id = NEW.id AND is_revoked = FALSE;
  PERFORM set_config('app.current_user_id', COALESCE(caller, ''), true);
  RETURN NULL;
END
$$;

CREATE TRIGGER users_deactivation_revokes_sessions
AFTER UPDATE OF is_active ON users
FOR EACH ROW
WHEN (OLD.is_active AND NOT NEW.is_active)
EXECUTE FUNCTION users_revoke_sessions_on_deactivation();

COMMENT ON FUNCTION users_revoke_sessions_on_deactivation() IS
'Revokes every live session of a user whose is_active turns FALSE (reason admin_action).';
