#!/bin/sh
# Runs once, when the PostgreSQL volume is first initialised (docker-entrypoint-initdb.d).
# Creates the service's role and database, and the role Temporal uses to create its own
# databases (temporal, temporal_visibility). Passwords come from Docker secrets.
set -eu

feishu_pw="$(cat /run/secrets/feishu_db_password)"
temporal_pw="$(cat /run/secrets/temporal_db_password)"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v feishu_pw="$feishu_pw" -v temporal_pw="$temporal_pw" <<'SQL'
CREATE ROLE feishu LOGIN PASSWORD :'feishu_pw';
CREATE DATABASE feishu_user_auth OWNER feishu;
REVOKE ALL ON DATABASE feishu_user_auth FROM PUBLIC;
CREATE ROLE temporal LOGIN CREATEDB PASSWORD :'temporal_pw';
SQL
