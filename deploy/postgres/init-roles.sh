#!/bin/sh
# Runs once, when the PostgreSQL volume is first initialised (docker-entrypoint-initdb.d).
# Creates the service's database with two roles: feishu owns it and runs the migrations
# (database_migration_url), feishu_app is what the API and the worker log in as (database_url)
# and may only read and write rows. Also the role Temporal uses to create its own databases
# (temporal, temporal_visibility). Passwords come from Docker secrets.
set -eu

feishu_pw="$(cat /run/secrets/feishu_db_password)"
feishu_app_pw="$(cat /run/secrets/feishu_app_db_password)"
temporal_pw="$(cat /run/secrets/temporal_db_password)"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v feishu_pw="$feishu_pw" -v feishu_app_pw="$feishu_app_pw" -v temporal_pw="$temporal_pw" <<'SQL'
CREATE ROLE feishu LOGIN PASSWORD :'feishu_pw';
CREATE ROLE feishu_app LOGIN PASSWORD :'feishu_app_pw';
CREATE DATABASE feishu_user_auth OWNER feishu;
REVOKE ALL ON DATABASE feishu_user_auth FROM PUBLIC;
GRANT CONNECT ON DATABASE feishu_user_auth TO feishu_app;
\connect feishu_user_auth
GRANT USAGE ON SCHEMA public TO feishu_app;
-- Every table and sequence the migrations create, now and later.
ALTER DEFAULT PRIVILEGES FOR ROLE feishu IN SCHEMA public
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO feishu_app;
ALTER DEFAULT PRIVILEGES FOR ROLE feishu IN SCHEMA public
  GRANT USAGE, SELECT ON SEQUENCES TO feishu_app;
CREATE ROLE temporal LOGIN CREATEDB PASSWORD :'temporal_pw';
SQL
