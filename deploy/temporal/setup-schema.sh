#!/bin/sh
# One-shot job (temporal-schema in docker-compose.yml): creates Temporal's two databases in
# PostgreSQL if needed and brings their schemas to the version this admin-tools image ships.
# Safe to run on every `docker compose up`: create is skipped when the database exists and
# update-schema only applies missing versions.
set -eu

SQL_PASSWORD="$(cat "$SQL_PASSWORD_FILE")"
export SQL_PASSWORD

schema_dir=/etc/temporal/schema/postgresql/v12

for db in temporal temporal_visibility; do
  case "$db" in
    temporal) versions="$schema_dir/temporal/versioned" ;;
    *) versions="$schema_dir/visibility/versioned" ;;
  esac
  echo "schema: $db"
  temporal-sql-tool --db "$db" create-database 2>/dev/null || echo "schema: $db exists"
  # setup-schema -v 0.0 only creates the version table; it is a no-op on an initialised database.
  temporal-sql-tool --db "$db" setup-schema -v 0.0 2>/dev/null || true
  temporal-sql-tool --db "$db" update-schema -d "$versions"
done
echo "schema: done"
