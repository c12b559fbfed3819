-- Up Migration

-- Counters of api/feishu/user-limit.ts (rate-limiter-flexible's PostgreSQL store, in the layout it
-- expects): how many cards each user asked for themselves, by DM or the card's Retry, in their
-- current window, shared by every API replica. `expire` is epoch milliseconds; the limiter deletes
-- rows an hour past it. Made here rather than by the library, as the runtime role may only read
-- and write rows.
CREATE TABLE user_rate_limits (
  key     varchar(255) PRIMARY KEY,
  points  integer      NOT NULL DEFAULT 0,
  expire  bigint
);

-- Down Migration

DROP TABLE user_rate_limits;
