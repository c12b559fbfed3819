-- Up Migration

-- Nonces of signed HTTP callbacks and ids of delivered events, seen recently. Shared by every
-- API replica, so a replayed or re-delivered request is refused wherever it lands.
CREATE TABLE callback_replay_guard (
  key      text        PRIMARY KEY,
  seen_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX callback_replay_guard_seen_idx ON callback_replay_guard (seen_at);

-- Down Migration
DROP TABLE callback_replay_guard;
