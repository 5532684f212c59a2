#!/usr/bin/env bash
# The compose stack (infra/compose) with this machine's engine: docker compose where a Docker
# engine runs, else podman-compose (`make install` brings it; podman 4.3 has no `podman compose`).
#   stack.sh up                 start it and wait until it serves (below)
#   stack.sh down [--volumes]   stop it and remove its containers (and its data)
#   stack.sh container SERVICE  the id of a service's container
#   stack.sh healthy SERVICE    wait until a service passes its health check
#   stack.sh ARGS...            any other compose command, e.g. `stack.sh logs api`
# STACK_PROJECT names the project (default: bybit); SIMULATED=1 adds simulated.yaml, the fake
# exchange in place of Bybit.
#
# `up` starts the servers, waits for their health checks, runs migrate and waits for it to exit 0,
# then starts the api, the worker, beat and the stream. Three steps, each waiting for the one
# before, because podman-compose on podman 4.3 can neither wait for a health check nor start a
# container whose dependency has dependencies of its own (podman refuses its dependency graph).
set -euo pipefail
# shellcheck source=infra/images/engine.sh
source "$(dirname "$0")/engine.sh"

PROJECT=${STACK_PROJECT:-bybit}
FILES=(-f "$ROOT/infra/compose/compose.yaml")
SERVERS=(postgres-user postgres-general redis)
if [ "${SIMULATED:-}" = 1 ]; then
  FILES+=(-f "$ROOT/infra/compose/simulated.yaml")
  SERVERS+=(exchange)
fi
WAIT_SECONDS=${STACK_WAIT_SECONDS:-120}

stack() { compose --project-name "$PROJECT" "${FILES[@]}" "$@"; }

# The container of a service (docker compose and podman-compose both label them).
container() { # service
  engine ps -aq --filter "label=com.docker.compose.project=$PROJECT" \
    --filter "label=com.docker.compose.service=$1" | head -1
}

# Until the container's own health check passes (podman has no timer for it here: run by hand).
wait_healthy() { # service
  local id
  id=$(container "$1")
  for _ in $(seq "$WAIT_SECONDS"); do
    if [ "$ENGINE" = podman ]; then
      engine healthcheck run "$id" >/dev/null 2>&1 && return 0
    else
      [ "$(engine inspect --format '{{.State.Health.Status}}' "$id")" = healthy ] && return 0
    fi
    sleep 1
  done
  echo "$1 is not healthy after $WAIT_SECONDS s" >&2
  return 1
}

start() { # service...
  local said
  said=$(stack up --detach --no-build --no-deps --no-recreate "$@" 2>&1) || {
    echo "$said" | tail -5 >&2
    return 1
  }
}

up() {
  start "${SERVERS[@]}"
  for server in postgres-user postgres-general redis; do
    wait_healthy "$server"
  done
  start migrate
  local code
  code=$(engine wait "$(container migrate)" | head -1)
  engine logs "$(container migrate)" 2>&1 | tail -2
  if [ "$code" != 0 ]; then
    echo "migrate exited with status $code" >&2
    return 1
  fi
  start api worker beat stream
}

case "${1:-}" in
  up) up ;;
  down) shift && stack down --timeout 10 "$@" ;;
  container) container "$2" ;;
  healthy) wait_healthy "$2" ;;
  *) stack "$@" ;;
esac
