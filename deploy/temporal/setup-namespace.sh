#!/bin/sh
# One-shot job (temporal-setup in docker-compose.yml): creates the namespace and registers the
# custom search attributes that every grant workflow sets (see lib/search-attributes.ts).
# Idempotent: an existing namespace or attribute is left as it is.
set -eu

ns="${TEMPORAL_NAMESPACE:-default}"
retention="${TEMPORAL_NAMESPACE_RETENTION:-30d}"

until temporal operator cluster health >/dev/null 2>&1; do
  echo "setup: waiting for the Temporal frontend at $TEMPORAL_ADDRESS"
  sleep 2
done

if temporal operator namespace describe --namespace "$ns" >/dev/null 2>&1; then
  echo "setup: namespace $ns exists"
else
  temporal operator namespace create --namespace "$ns" --retention "$retention"
  echo "setup: namespace $ns created (retention $retention)"
fi

existing="$(temporal operator search-attribute list --namespace "$ns" 2>/dev/null || true)"
for spec in FeishuOpenId:Keyword FeishuAppId:Keyword FeishuAuthStatus:Keyword FeishuTokenExpiresAt:Datetime; do
  name="${spec%%:*}"
  type="${spec#*:}"
  if printf '%s\n' "$existing" | grep -qw "$name"; then
    echo "setup: search attribute $name exists"
  else
    temporal operator search-attribute create --namespace "$ns" --name "$name" --type "$type"
    echo "setup: search attribute $name ($type) created"
  fi
done
