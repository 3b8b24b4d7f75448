#!/bin/sh
# First start: initdb with the password from POSTGRES_PASSWORD (a Secret), scram-sha-256 for every
# network login. Then run postgres in the foreground (SIGTERM: smart shutdown).
set -eu
: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required (Secret voicebot-secrets)}"
USER_NAME=${POSTGRES_USER:-voicebot}
DB=${POSTGRES_DB:-voicebot}
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  mkdir -p "$PGDATA"
  chmod 700 "$PGDATA"
  pwfile=$(mktemp /tmp/pw.XXXXXX)
  printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
  initdb -D "$PGDATA" -U "$USER_NAME" --pwfile="$pwfile" --auth-local=scram-sha-256 \
    --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  rm -f "$pwfile"
  echo "host all all 0.0.0.0/0 scram-sha-256" >> "$PGDATA/pg_hba.conf"
  echo "host all all ::/0 scram-sha-256" >> "$PGDATA/pg_hba.conf"
  postgres -D "$PGDATA" -c listen_addresses='' -c unix_socket_directories=/tmp &
  pid=$!
  until pg_isready -h /tmp -q; do sleep 0.2; done
  PGPASSWORD=$POSTGRES_PASSWORD psql -h /tmp -U "$USER_NAME" -d postgres -qc "CREATE DATABASE \"$DB\"" \
    2>/dev/null || true
  kill -INT "$pid"; wait "$pid" || true
fi
exec postgres -D "$PGDATA" -c listen_addresses="${POSTGRES_LISTEN:-*}" -c port="${POSTGRES_PORT:-5432}" \
  -c unix_socket_directories=/tmp
