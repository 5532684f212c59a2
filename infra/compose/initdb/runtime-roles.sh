#!/bin/sh
# The server's runtime roles, made at its first start (the PostgreSQL image runs
# /docker-entrypoint-initdb.d once, as POSTGRES_USER, the database's owner, which runs the
# migrations too). RUNTIME_ROLES lists NAME:ACCESS pairs (access read or write); each NAME's
# password is the variable NAME in capitals followed by _PASSWORD (bybit_user_api:
# BYBIT_USER_API_PASSWORD). The grants are infra/postgres/runtime-role.sql's, mounted at
# /runtime-role.sql; the owner's default privileges cover the tables migrations add later.
set -eu
for pair in $RUNTIME_ROLES; do
  role=${pair%%:*}
  variable=$(echo "${role}_PASSWORD" | tr '[:lower:]' '[:upper:]')
  RUNTIME_ROLE_PASSWORD=$(printenv "$variable") || {
    echo "$variable: required (the password of the runtime role $role)" >&2
    exit 1
  }
  export RUNTIME_ROLE_PASSWORD
  psql -q -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v role="$role" -v access="${pair#*:}" -f /runtime-role.sql
done
