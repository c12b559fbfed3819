-- Up Migration

-- Set, with the grant, in the transaction that stores the tokens a code bought: a re-run of the
-- exchange then returns that grant instead of spending the code again.
ALTER TABLE user_auth_sessions ADD COLUMN code_spent_at timestamptz;

-- Down Migration
ALTER TABLE user_auth_sessions DROP COLUMN code_spent_at;
