-- Up Migration

-- One row per (app, user): the grant's current state and its encrypted tokens.
-- Token columns hold nonce || ciphertext (XChaCha20-Poly1305); key_id names the ring key used.
CREATE TABLE grants (
  app_id              text        NOT NULL,
  open_id             text        NOT NULL,
  status              text        NOT NULL,
  reason              text,
  scopes              text[]      NOT NULL DEFAULT '{}',
  union_id            text,
  user_name           text,
  user_en_name        text,
  avatar_url          text,
  key_id              text,
  access_token_ct     bytea,
  refresh_token_ct    bytea,
  access_expires_at   timestamptz,
  refresh_expires_at  timestamptz,
  authorized_at       timestamptz,
  token_version       integer     NOT NULL DEFAULT 0,
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (app_id, open_id),
  CONSTRAINT grants_tokens_have_key CHECK (access_token_ct IS NULL OR key_id IS NOT NULL)
);
CREATE INDEX grants_status_idx ON grants (app_id, status, open_id);

-- One row per authorization attempt (a card sent to a user).
CREATE TABLE user_auth_sessions (
  id            text        PRIMARY KEY,
  app_id        text        NOT NULL,
  open_id       text        NOT NULL,
  workflow_id   text        NOT NULL,
  status        text        NOT NULL,
  scopes        text[]      NOT NULL DEFAULT '{}',
  -- SHA-256 of the OAuth state: the state itself is a bearer secret until used.
  state_hash    bytea       NOT NULL UNIQUE,
  -- Sealed with the token key ring (key_id): the state to rebuild the card's link, the PKCE
  -- verifier, and the code once the redirect delivers it. Erased when the attempt settles.
  key_id        text        NOT NULL,
  state_ct      bytea,
  verifier_ct   bytea,
  code_ct       bytea,
  code_key_id   text,
  message_id    text,
  locale        text        NOT NULL DEFAULT 'zh_cn',
  error_code    text,
  reason        text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  expires_at    timestamptz NOT NULL,
  settled_at    timestamptz
);
CREATE INDEX user_auth_sessions_user_idx ON user_auth_sessions (app_id, open_id, created_at DESC);

-- Everything that happened to a grant after authorization: refreshes, revocation, re-auth prompts.
CREATE TABLE grant_events (
  id          bigserial   PRIMARY KEY,
  app_id      text        NOT NULL,
  open_id     text        NOT NULL,
  kind        text        NOT NULL,
  outcome     text        NOT NULL,
  error_code  text,
  detail      text,
  at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX grant_events_user_idx ON grant_events (app_id, open_id, at DESC);

-- Down Migration
DROP TABLE grant_events;
DROP TABLE user_auth_sessions;
DROP TABLE grants;
