#!/bin/sh
# Entrypoint of the feishu-user-auth image.
#
# For every variable NAME_FILE=/path in the environment, reads the file and exports NAME with its
# content (trailing newlines dropped), unless NAME is already set. This lets docker-compose.yml and
# Kubernetes hand secrets over as files (/run/secrets/...) while the service keeps reading the
# plain variables of its contract. A file that is missing is an error; the value is never printed.
set -eu

for pair in $(env | sed -n 's/^\([A-Z][A-Z0-9_]*\)_FILE=.*/\1/p'); do
  file_var="${pair}_FILE"
  eval "file=\${$file_var}"
  eval "already=\${$pair:-}"
  if [ -n "$already" ]; then
    echo "docker-entrypoint: both $pair and $file_var are set; using $pair" >&2
  else
    if [ ! -r "$file" ]; then
      echo "docker-entrypoint: $file_var points at $file, which cannot be read" >&2
      exit 1
    fi
    value="$(cat "$file")"
    export "$pair=$value"
  fi
  unset "$file_var"
done

exec "$@"
