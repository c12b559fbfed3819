-- Up Migration

-- Batches of authorization requests or revocations (POST /v1/authorizations:batch,
-- :batchRevoke): the batch id is the caller's, so repeating a request finds the same batch.
-- `fingerprint` is a hash of what was asked (kind, users or chat, scopes, options): the same id
-- with other content is a conflict, not a second batch.
CREATE TABLE authorization_batches (
  app_id        text        NOT NULL,
  batch_id      text        NOT NULL,
  kind          text        NOT NULL CHECK (kind IN ('request', 'revoke')),
  fingerprint   text        NOT NULL,
  -- {scopes, expires_in_seconds, locale, chat_id}: what each user's request carries.
  options       jsonb       NOT NULL,
  -- The API key's name, never its secret.
  requested_by  text,
  total         integer     NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  finished_at   timestamptz,
  PRIMARY KEY (app_id, batch_id)
);

-- One row per user of a batch, in the order they are processed; `result` starts as 'queued' and
-- is written once, by the activity that handled the user.
CREATE TABLE authorization_batch_items (
  app_id            text        NOT NULL,
  batch_id          text        NOT NULL,
  position          integer     NOT NULL,
  open_id           text        NOT NULL,
  result            text        NOT NULL DEFAULT 'queued',
  reason            text,
  authorization_id  text,
  updated_at        timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (app_id, batch_id, position),
  UNIQUE (app_id, batch_id, open_id),
  FOREIGN KEY (app_id, batch_id) REFERENCES authorization_batches (app_id, batch_id) ON DELETE CASCADE
);

-- Down Migration
DROP TABLE authorization_batch_items;
DROP TABLE authorization_batches;
