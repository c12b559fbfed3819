-- Up Migration

-- Wakes API requests long-polling an attempt (POST /v1/authorizations?wait=N): one NOTIFY, with the
-- attempt's id (not a secret), when an attempt leaves 'pending', instead of each request re-reading
-- its row every 100 ms.
CREATE FUNCTION notify_attempt_settled() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('attempt_settled', NEW.id);
  RETURN NULL;
END
$$;

CREATE TRIGGER user_auth_sessions_settled
  AFTER UPDATE OF status ON user_auth_sessions
  FOR EACH ROW WHEN (OLD.status = 'pending' AND NEW.status IS DISTINCT FROM 'pending')
  EXECUTE FUNCTION notify_attempt_settled();

-- Down Migration
DROP TRIGGER user_auth_sessions_settled ON user_auth_sessions;
DROP FUNCTION notify_attempt_settled();
