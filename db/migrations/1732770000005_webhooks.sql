-- Up Migration

-- Who receives a grant's events. Subscribers from WEBHOOK_URLS (source 'env') keep their signing
-- secrets in the environment only; those added through the API keep theirs sealed with the token
-- key ring (secret_ct, and the one before a rotation, valid until previous_valid_until).
CREATE TABLE webhook_subscribers (
  id                    text        PRIMARY KEY,
  app_id                text        NOT NULL,
  name                  text        NOT NULL,
  url                   text        NOT NULL,
  source                text        NOT NULL CHECK (source IN ('env', 'api')),
  -- NULL: every event type.
  event_types           text[],
  key_id                text,
  secret_ct             bytea,
  previous_key_id       text,
  previous_secret_ct    bytea,
  previous_valid_until  timestamptz,
  enabled               boolean     NOT NULL DEFAULT true,
  created_at            timestamptz NOT NULL DEFAULT now(),
  updated_at            timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT webhook_subscribers_api_secret CHECK (source = 'env' OR (secret_ct IS NOT NULL AND key_id IS NOT NULL))
);

-- A name is a subscriber's label in metrics and the API: one enabled subscriber per name.
CREATE UNIQUE INDEX webhook_subscribers_name_idx ON webhook_subscribers (app_id, name) WHERE enabled;

-- The outbox: one row per event, written by the triggers below in the transaction that changed the
-- grant, so an event exists exactly when its change committed. seq orders a grant's events: writes
-- to one grant hold its row lock, so their events commit in seq order.
CREATE TABLE webhook_events (
  id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
  seq          bigserial   NOT NULL UNIQUE,
  app_id       text        NOT NULL,
  open_id      text        NOT NULL,
  type         text        NOT NULL,
  status       text        NOT NULL,
  scopes       text[]      NOT NULL,
  reason       text,
  occurred_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
  -- Set once the dispatcher has made this event's deliveries.
  fanned_out   boolean     NOT NULL DEFAULT false
);
CREATE INDEX webhook_events_unfanned_idx ON webhook_events (app_id, seq) WHERE NOT fanned_out;
CREATE INDEX webhook_events_user_idx ON webhook_events (app_id, open_id, seq);

-- One row per (event, subscriber): what was tried, and how it ended.
CREATE TABLE webhook_deliveries (
  id                bigserial   PRIMARY KEY,
  event_id          uuid        NOT NULL REFERENCES webhook_events (id),
  subscriber_id     text        NOT NULL REFERENCES webhook_subscribers (id),
  status            text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'dead', 'cancelled')),
  attempts          integer     NOT NULL DEFAULT 0,
  last_http_status  integer,
  last_error        text,
  last_attempt_at   timestamptz,
  -- Retries stop here and the delivery is dead-lettered; a replay moves it.
  give_up_at        timestamptz NOT NULL,
  -- Whether its subscriber's delivery workflow for this grant has been told about it.
  woken             boolean     NOT NULL DEFAULT false,
  created_at        timestamptz NOT NULL DEFAULT now(),
  settled_at        timestamptz,
  UNIQUE (event_id, subscriber_id)
);
CREATE INDEX webhook_deliveries_unwoken_idx ON webhook_deliveries (subscriber_id) WHERE NOT woken;
CREATE INDEX webhook_deliveries_event_idx ON webhook_deliveries (event_id);
CREATE INDEX webhook_deliveries_pending_idx ON webhook_deliveries (subscriber_id) WHERE status = 'pending';

CREATE FUNCTION record_webhook_event(app text, open text, event_type text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO webhook_events (app_id, open_id, type, status, scopes, reason)
    SELECT app_id, open_id, event_type, status, scopes, reason FROM grants
     WHERE app_id = app AND open_id = open;
  PERFORM pg_notify('webhook_outbox', app);
END
$$;

-- A grant's status moving to one that subscribers hear about, a live grant's scopes changing, and
-- a live grant authorized again (a renewal): the change and its event commit together.
CREATE FUNCTION grants_webhook_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  event_type text;
BEGIN
  IF TG_OP = 'INSERT' OR NEW.status IS DISTINCT FROM OLD.status THEN
    IF NEW.status IN ('authorized', 'denied', 'expired', 'needs_reauth', 'revoked') THEN
      event_type := 'grant.' || NEW.status;
    END IF;
  ELSIF NEW.status = 'authorized' THEN
    IF NOT (NEW.scopes @> OLD.scopes AND OLD.scopes @> NEW.scopes) THEN
      event_type := 'grant.scopes_changed';
    ELSIF NEW.authorized_at IS DISTINCT FROM OLD.authorized_at THEN
      event_type := 'grant.authorized';
    END IF;
  END IF;
  IF event_type IS NOT NULL THEN
    PERFORM record_webhook_event(NEW.app_id, NEW.open_id, event_type);
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER grants_webhook_events
  AFTER INSERT OR UPDATE ON grants
  FOR EACH ROW EXECUTE FUNCTION grants_webhook_event();

-- A refresh that succeeds right after one or more failed tries: the grant recovered.
CREATE FUNCTION grant_events_webhook_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF (SELECT outcome FROM grant_events
       WHERE app_id = NEW.app_id AND open_id = NEW.open_id AND kind = 'refresh' AND id < NEW.id
       ORDER BY id DESC LIMIT 1) IN ('retrying', 'refused') THEN
    PERFORM record_webhook_event(NEW.app_id, NEW.open_id, 'grant.recovered');
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER grant_events_webhook_events
  AFTER INSERT ON grant_events
  FOR EACH ROW WHEN (NEW.kind = 'refresh' AND NEW.outcome = 'success')
  EXECUTE FUNCTION grant_events_webhook_event();

-- Which notice a card carried: a renewal card tells subscribers the grant's year is running out.
ALTER TABLE user_auth_sessions ADD COLUMN notice text;

CREATE FUNCTION sessions_webhook_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM record_webhook_event(NEW.app_id, NEW.open_id, 'grant.renewal_due');
  RETURN NULL;
END
$$;

CREATE TRIGGER user_auth_sessions_webhook_events
  AFTER INSERT ON user_auth_sessions
  FOR EACH ROW WHEN (NEW.notice = 'renewal')
  EXECUTE FUNCTION sessions_webhook_event();

-- Down Migration
DROP TRIGGER user_auth_sessions_webhook_events ON user_auth_sessions;
DROP FUNCTION sessions_webhook_event();
ALTER TABLE user_auth_sessions DROP COLUMN notice;
DROP TRIGGER grant_events_webhook_events ON grant_events;
DROP FUNCTION grant_events_webhook_event();
DROP TRIGGER grants_webhook_events ON grants;
DROP FUNCTION grants_webhook_event();
DROP FUNCTION record_webhook_event(text, text, text);
DROP TABLE webhook_deliveries;
DROP TABLE webhook_events;
DROP TABLE webhook_subscribers;
