#!/bin/sh
# Compose hands secrets over as files under /run/secrets; Kairos reads its settings from
# the environment. This turns the files that are mounted into the settings, then runs
# the command. Passwords are hex (deploy/compose/make-secrets.sh), so they need no
# escaping inside a URL.
set -eu
s=${KAIROS_SECRETS_DIR:-/run/secrets}
db="${KAIROS_DB_HOST:-postgres}:${KAIROS_DB_PORT:-5432}/${KAIROS_DB_NAME:-kairos}"
if [ -r "$s/postgres_password" ]; then
  export KAIROS_OWNER_DATABASE_URL="postgresql://${KAIROS_DB_OWNER:-postgres}:$(cat "$s/postgres_password")@$db"
fi
if [ -r "$s/kairos_scheduler_password" ]; then
  export KAIROS_DATABASE_URL="postgresql://kairos_scheduler:$(cat "$s/kairos_scheduler_password")@$db"
fi
if [ -r "$s/kairos_app_password" ]; then
  export KAIROS_API_DATABASE_URL="postgresql://kairos_app:$(cat "$s/kairos_app_password")@$db"
fi
if [ -r "$s/kairos_secret_key" ]; then
  KAIROS_SECRET_KEY="$(cat "$s/kairos_secret_key")"
  export KAIROS_SECRET_KEY
fi
exec "$@"
