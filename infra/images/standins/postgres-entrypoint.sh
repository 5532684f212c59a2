#!/bin/sh
# The stand-in's entrypoint, as the official image's does it: on an empty data directory, initdb
# with POSTGRES_USER and POSTGRES_PASSWORD (required: connections over the network must give a
# password, scram-sha-256), POSTGRES_DB created, then each /docker-entrypoint-initdb.d/*.sh (run,
# or sourced when not executable) and *.sql (psql) once, on a server that listens on its socket
# only. Then PostgreSQL in the foreground, as user postgres.
set -eu
: "${POSTGRES_USER:=postgres}" "${POSTGRES_DB:=$POSTGRES_USER}"
export POSTGRES_USER POSTGRES_DB

if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /run/postgresql
  chown -R postgres:postgres "$PGDATA" /run/postgresql
  chmod 700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "${POSTGRES_PASSWORD:-}" ]; then
    echo "POSTGRES_PASSWORD: required (connections over the network need a password)" >&2
    exit 1
  fi
  password_file=$(mktemp)
  printf '%s' "$POSTGRES_PASSWORD" >"$password_file"
  initdb --username="$POSTGRES_USER" --pwfile="$password_file" --auth-local=trust \
    --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  rm -f "$password_file"
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"

  pg_ctl --silent --wait --options="-c listen_addresses=''" start >/dev/null
  export PGUSER="$POSTGRES_USER"
  if [ "$POSTGRES_DB" != postgres ]; then
    psql -q -v ON_ERROR_STOP=1 --dbname=postgres -c "CREATE DATABASE \"$POSTGRES_DB\""
  fi
  for file in /docker-entrypoint-initdb.d/*; do
    case "$file" in
      *.sh)
        if [ -x "$file" ]; then "$file"; else . "$file"; fi
        ;;
      *.sql) psql -q -v ON_ERROR_STOP=1 --dbname="$POSTGRES_DB" -f "$file" ;;
    esac
  done
  unset PGUSER
  pg_ctl --silent --wait --mode=fast stop >/dev/null
  echo "database $POSTGRES_DB initialised"
fi

if [ "${1:-}" = postgres ]; then
  shift
  exec postgres -c listen_addresses='*' "$@"
fi
exec "$@"
