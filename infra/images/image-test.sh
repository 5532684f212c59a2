#!/usr/bin/env bash
# Builds both images and proves they work against this machine's PostgreSQL and Redis:
#   1. sizes: base, venv, api and worker images; the api must stay within (base + venv) + 10 %;
#   2. `db-migrate upgrade` in the api image migrates two fresh databases (Render's preDeployCommand);
#   3. the api refuses to start without its master key file; with it, it answers 200 on
#      /health/ready and its HEALTHCHECK passes;
#   4. the worker container runs `worker.ping` sent on a queue of its own, and its HEALTHCHECK passes;
#   5. SIGTERM stops both cleanly (tini forwards it; a SIGKILL would show as exit code 137);
#   6. the whole compose stack runs a sync, and the worker cannot reach the user database
#      (compose-test.sh).
# Every container, database and file it creates is removed on the way out, failure or not.
set -euo pipefail
# shellcheck source=infra/images/engine.sh
source "$(dirname "$0")/engine.sh"

POSTGRES=${IMAGE_TEST_POSTGRES:-postgresql://postgres@127.0.0.1:5432}
REDIS_URL=${IMAGE_TEST_REDIS_URL:-redis://127.0.0.1:6379/0}
READY_TIMEOUT=${IMAGE_TEST_READY_TIMEOUT:-90}
RUN_ID=imgtest_$$_$RANDOM
USER_DB=${RUN_ID}_user
GENERAL_DB=${RUN_ID}_general
API=$(image_name api)
WORKER=$(image_name worker)

containers=()
databases=()
scratch=$(mktemp -d)

cleanup() {
  local status=$?
  # Those recorded, and any of this run's names a failed start left behind.
  for id in "${containers[@]}" $(engine ps -aq --filter "name=^${RUN_ID}_" 2>/dev/null); do
    engine rm --force --time 0 "$id" >/dev/null 2>&1 || engine rm --force "$id" >/dev/null 2>&1 || true
  done
  for db in "${databases[@]}"; do
    psql -q "$POSTGRES/postgres" -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true
  done
  rm -rf "$scratch"
  [ "$status" -eq 0 ] && echo "image-test passed" || echo "image-test FAILED (status $status)" >&2
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '\n== %s\n' "$*"; }
mb() { awk -v bytes="$1" 'BEGIN { printf "%.1f", bytes / 1e6 }'; }

say "building with $ENGINE (base ${BASE_IMAGE:-of the Dockerfiles})"
if ! "$ROOT/infra/images/build.sh" api worker postgres redis >"$scratch/build.log" 2>&1; then
  tail -40 "$scratch/build.log"
  exit 1
fi
grep -E '^(built|building|base image|installing)' "$scratch/build.log"

say "sizes"
# The base the images were built on: the local one, or the Dockerfile's default (by digest). BuildKit
# may build FROM a base it does not keep in the image store.
base_image=${BASE_IMAGE:-$(sed -n 's/^ARG BASE_IMAGE=//p' "$ROOT/services/api/Dockerfile")}
engine image inspect "$base_image" >/dev/null 2>&1 || engine pull --quiet "$base_image" >/dev/null
base=$(image_bytes "$base_image")
api=$(image_bytes "$API")
worker=$(image_bytes "$WORKER")
venv=$(engine run --rm --no-healthcheck "$API" du -sb /opt/venv | cut -f1)
worker_venv=$(engine run --rm --no-healthcheck "$WORKER" du -sb /opt/venv | cut -f1)
limit=$(((base + venv) * 110 / 100))
printf '%-12s %8s MB\n' base "$(mb "$base")" "api venv" "$(mb "$venv")" api "$(mb "$api")" \
  "worker venv" "$(mb "$worker_venv")" worker "$(mb "$worker")"
printf 'api beyond base + venv: %s MB (%s %% of base + venv); limit %s MB\n' "$(mb $((api - base - venv)))" \
  "$(awk -v over=$((api - base - venv)) -v sum=$((base + venv)) 'BEGIN { printf "%.1f", over * 100 / sum }')" \
  "$(mb "$limit")"
if [ "$api" -gt "$limit" ]; then
  echo "the api image is larger than base + venv + 10 %" >&2
  exit 1
fi

say "databases $USER_DB and $GENERAL_DB"
for db in "$USER_DB" "$GENERAL_DB"; do
  databases+=("$db")
  psql -q "$POSTGRES/postgres" -c "CREATE DATABASE \"$db\"" >/dev/null
done
# A master key file as Render mounts a Secret File: mode 0600, owned by the user the image runs as
# (as root here: the image's own user; otherwise the caller, whom the containers then run as).
image_user=10001:10001
"$ROOT/infra/images/master-key.sh" "$scratch/keys/master.key" "$image_user"

settings=(
  -e ENVIRONMENT=production
  -e "REDIS_URL=$REDIS_URL"
  -e "CELERY_QUEUE=$RUN_ID"
  -e BYBIT_NETWORK=testnet
  -e RENDER_MASTER_KEY_PATH=/etc/secrets/master.key
)
key_mount=(-v "$scratch/keys/master.key:/etc/secrets/master.key:ro")
# The services' URLs; migrations get the owners' instead (here the same superuser: production
# refuses a service URL logging in as the owner when both are given, so never both at once).
database=(-e "DATABASE_URL_USER=$POSTGRES/$USER_DB" -e "DATABASE_URL_GENERAL=$POSTGRES/$GENERAL_DB")
owners=(-e "DATABASE_MIGRATION_URL_USER=$POSTGRES/$USER_DB" -e "DATABASE_MIGRATION_URL_GENERAL=$POSTGRES/$GENERAL_DB")
# The api listens on a free port of the loopback only.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
settings+=(-e "PORT=$port" -e API_HOST=127.0.0.1)
if [ "$(id -u)" != 0 ]; then
  settings+=(--user "$(id -u):$(id -g)")
fi
# Host networking reaches 127.0.0.1 without touching the firewall. Podman here has no systemd to
# time health checks (it says so on stderr, kept in engine.log): they are run by hand below.
run_args=(--network host)
if [ "$ENGINE" = docker ]; then
  run_args+=(--health-interval 2s)
fi

# Starts a detached container and records it for the cleanup; its id is left in $started.
# (Not called in a command substitution: the record must reach this shell.)
start() { # name image [command...]
  local name=$1 image=$2
  shift 2
  started=$(engine run -d --name "${RUN_ID}_$name" --hostname "$RUN_ID-$name" "${run_args[@]}" \
    "${settings[@]}" "${database[@]}" "${key_mount[@]}" "$image" "$@" 2>>"$scratch/engine.log")
  containers+=("$started")
}

running() { [ "$(engine inspect --format '{{.State.Running}}' "$1")" = true ]; }

# The image's own HEALTHCHECK passes.
healthy() { # id
  if [ "$ENGINE" = podman ]; then
    engine healthcheck run "$1" >/dev/null
  else
    for _ in $(seq 60); do
      [ "$(engine inspect --format '{{.State.Health.Status}}' "$1")" = healthy ] && return 0
      sleep 1
    done
    return 1
  fi
}

# SIGTERM, as a platform sends on deploy; the process must exit by itself, not be killed.
stops_cleanly() { # id
  engine stop --time 20 "$1" >/dev/null 2>>"$scratch/engine.log"
  local code
  code=$(engine inspect --format '{{.State.ExitCode}}' "$1")
  echo "stopped on SIGTERM with exit code $code"
  [ "$code" -ne 137 ]
}

say "db-migrate upgrade (the api image, as Render's preDeployCommand)"
services_urls=("${database[@]}")
database=("${owners[@]}")
start migrate "$API" db-migrate upgrade
database=("${services_urls[@]}")
migrate=$started
engine wait "$migrate" >/dev/null || true
engine logs "$migrate" 2>&1 | tail -5
[ "$(engine inspect --format '{{.State.ExitCode}}' "$migrate")" -eq 0 ]

say "api without its master key file (the Secret File step forgotten)"
mounted=("${key_mount[@]}")
key_mount=()
start nokey "$API"
key_mount=("${mounted[@]}")
for _ in $(seq 30); do
  running "$started" || break
  sleep 1
done
if running "$started"; then
  echo "the api runs without its master key file" >&2
  exit 1
fi
engine logs "$started" 2>&1 | grep RENDER_MASTER_KEY_PATH
[ "$(engine inspect --format '{{.State.ExitCode}}' "$started")" -ne 0 ]

say "api"
start api "$API"
api_id=$started
status=""
for _ in $(seq "$READY_TIMEOUT"); do
  status=$(python3 - "$port" <<'EOF' || true
import sys, urllib.error, urllib.request
try:
    print(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/health/ready", timeout=3).status)
except urllib.error.HTTPError as exc:
    print(exc.code)
except OSError:
    print("down")
EOF
)
  [ "$status" = 200 ] && break
  running "$api_id" || break
  sleep 1
done
echo "/health/ready: $status"
if [ "$status" != 200 ]; then
  engine logs "$api_id" 2>&1 | tail -30
  exit 1
fi
healthy "$api_id" && echo "HEALTHCHECK passes"

say "worker"
start worker "$WORKER"
worker_id=$started
# The api image sends the task by name, as the api does; the worker's result comes back.
answer=$(engine run --rm --no-healthcheck "${run_args[@]}" "${settings[@]}" "${key_mount[@]}" "$API" python -c '
import os
from celery import Celery

app = Celery(broker=os.environ["REDIS_URL"], backend=os.environ["REDIS_URL"])
print(app.send_task("worker.ping", queue=os.environ["CELERY_QUEUE"]).get(timeout=60))
' 2>"$scratch/ping.log") || true
echo "worker.ping -> $answer"
if [ "$answer" != pong ]; then
  tail -5 "$scratch/ping.log"
  engine logs "$worker_id" 2>&1 | tail -30
  exit 1
fi
healthy "$worker_id" && echo "HEALTHCHECK passes"

say "SIGTERM"
stops_cleanly "$api_id"
stops_cleanly "$worker_id"

"$ROOT/infra/images/compose-test.sh"
