#!/bin/sh
# Creates deploy/secrets/* for docker-compose.yml with fresh random values, once.
# Existing files are kept, so re-running it never rotates a key behind your back.
# Afterwards put the Feishu app secret (and, for FEISHU_CALLBACK_MODE=http, the encrypt key and
# verification token) into their files. Needs openssl.
#
# Modes: Compose mounts each file into the containers with its owner and mode on this host (the
# uid, gid and mode of a service's secret apply to Swarm only), and the containers read them as
# their own users: PostgreSQL's entrypoint and init scripts as uid 999, Grafana as 472, Temporal and
# this service as 1000. So every file is readable by all (0644) and the directory holding them is
# not (0700): on this host only its owner gets to the files, inside a container the mounted file is
# reached without the directory. Re-running the script applies the modes to existing files too.
set -eu
cd "$(dirname "$0")"
umask 077
mkdir -p secrets
chmod 0700 secrets

put() { # name value
  if [ -e "secrets/$1" ]; then
    echo "keep    secrets/$1"
  else
    printf '%s' "$2" > "secrets/$1"
    echo "created secrets/$1"
  fi
}

# Hex passwords need no escaping inside a URL.
put postgres_password "$(openssl rand -hex 24)"
put feishu_db_password "$(openssl rand -hex 24)"
put feishu_app_db_password "$(openssl rand -hex 24)"
put temporal_db_password "$(openssl rand -hex 24)"
# The service runs as feishu_app (rows only); migrations run as feishu, the database's owner.
put database_url "postgres://feishu_app:$(cat secrets/feishu_app_db_password)@postgresql:5432/feishu_user_auth"
put database_migration_url "postgres://feishu:$(cat secrets/feishu_db_password)@postgresql:5432/feishu_user_auth"
put token_encryption_keys "k1:$(openssl rand -base64 32)"
put payload_codec_keys "c1:$(openssl rand -base64 32)"
# Operators read status and history; the integrating app reads tokens (docs/deployment.md, API keys).
put api_keys "ops:read:$(openssl rand -hex 24),app:token:$(openssl rand -hex 24)"
put grafana_admin_password "$(openssl rand -hex 16)"
put feishu_app_secret ""
put feishu_encrypt_key ""
put feishu_verification_token ""

chmod 0644 secrets/*

if [ ! -s secrets/feishu_app_secret ]; then
  echo "next: write the app secret of FEISHU_APP_ID into deploy/secrets/feishu_app_secret"
fi
