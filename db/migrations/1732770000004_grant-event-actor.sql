-- Up Migration

-- Who did it, for events a person or a service caused (a revocation): {"api_key": "<key name>"}
-- or {"card_operator": "<open_id>"}. Never a secret.
ALTER TABLE grant_events ADD COLUMN actor jsonb;

-- Down Migration
ALTER TABLE grant_events DROP COLUMN actor;
