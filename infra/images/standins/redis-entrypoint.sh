#!/bin/sh
# The official redis image turns protected mode off (its network is what protects it); so does
# the stand-in, for redis-server alone. Anything else (redis-cli, sh) runs as given.
set -eu
if [ "${1:-}" = redis-server ]; then
  shift
  exec redis-server --protected-mode no "$@"
fi
exec "$@"
