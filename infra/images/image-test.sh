#!/usr/bin/env bash
# Builds both images and proves they work against this machine's PostgreSQL and Redis:
#   1. sizes: base, venv, api and worker images; the api must stay within (base + venv) + 10 %;
#   2. `db-migrate upgrade` in the api image migrates two fresh databases (Render's preDeployCommand);
#   3. the api container answers 200 on /health/ready and its HEALTHCHECK passes;
#   4. the worker container runs `worker.ping` sent on a queue of its own, and its HEALTHCHECK passes;
#   5. SIGTERM stops both cleanly (tini forwards it; a SIGKILL would show as exit code 137).
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
  for id in "${containers[@]}"; do
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
mb() { echo "scale=1; $1 / 1000000" | bc; }

say "building with $ENGINE (base $BASE_IMAGE)"
"$ROOT/infra/images/build.sh" api worker 2>&1 | grep -E '^(built|building|base image|installing)' || true
engine image inspect "$API" "$WORKER" >/dev/null

say "sizes"
base=$(image_bytes "$BASE_IMAGE")
api=$(image_bytes "$API")
worker=$(image_bytes "$WORKER")
venv=$(engine run --rm --network host "$API" du -sb /opt/venv | cut -f1)
worker_venv=$(engine run --rm --network host "$WORKER" du -sb /opt/venv | cut -f1)
limit=$(((base + venv) * 110 / 100))
printf '%-8s %8s MB\n' base "$(mb "$base")" "api venv" "$(mb "$venv")" api "$(mb "$api")" \
  "wrk venv" "$(mb "$worker_venv")" worker "$(mb "$worker")"
printf 'api beyond base + venv: %s MB (%s %% of base + venv); limit %s MB\n' \
  "$(mb $((api - base - venv)))" "$(echo "scale=1; ($api - $base - $venv) * 100 / ($base + $venv)" | bc)" "$(mb "$limit")"
if [ "$api" -gt "$limit" ]; then
  echo "the api image is larger than base + venv + 10 %" >&2
  exit 1
fi

say "databases $USER_DB and $GENERAL_DB"
for db in "$USER_DB" "$GENERAL_DB"; do
  databases+=("$db")
  psql -q "$POSTGRES/postgres" -c "CREATE DATABASE \"$db\"" >/dev/null
done
# A master key file as Render mounts a Secret File: read-only, readable by the image's user only.
head -c 32 /dev/urandom | base64 >"$scratch/master.key"
chmod 0400 "$scratch/master.key"
chown 10001:10001 "$scratch/master.key" 2>/dev/null || chmod 0444 "$scratch/master.key"

settings=(
  -e ENVIRONMENT=production
  -e "DATABASE_URL_USER=$POSTGRES/$USER_DB"
  -e "DATABASE_URL_GENERAL=$POSTGRES/$GENERAL_DB"
  -e "REDIS_URL=$REDIS_URL"
  -e "CELERY_QUEUE=$RUN_ID"
  -e BYBIT_NETWORK=testnet
  -e RENDER_MASTER_KEY_PATH=/etc/secrets/master.key
  -v "$scratch/master.key:/etc/secrets/master.key:ro"
)
# Host networking reaches 127.0.0.1 without touching the firewall. Podman here has no systemd to
# time health checks: they are run by hand below instead.
run_args=(--network host)
if [ "$ENGINE" = podman ]; then
  run_args+=(--health-interval disable)
else
  run_args+=(--health-interval 2s)
fi

# Starts a detached container and records it for the cleanup.
start() { # name image [command...]
  local name=$1 image=$2
  shift 2
  local id
  id=$(engine run -d --name "${RUN_ID}_$name" --hostname "$RUN_ID-$name" "${run_args[@]}" "${settings[@]}" \
    "$image" "$@")
  containers+=("$id")
  echo "$id"
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
  engine stop --time 20 "$1" >/dev/null
  local code
  code=$(engine inspect --format '{{.State.ExitCode}}' "$1")
  echo "stopped on SIGTERM with exit code $code"
  [ "$code" -ne 137 ]
}

say "db-migrate upgrade (the api image, as Render's preDeployCommand)"
migrate=$(start migrate "$API" db-migrate upgrade)
engine wait "$migrate" >/dev/null || true
engine logs "$migrate" 2>&1 | tail -5
[ "$(engine inspect --format '{{.State.ExitCode}}' "$migrate")" -eq 0 ]

say "api"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
settings+=(-e "PORT=$port" -e API_HOST=127.0.0.1)
api_id=$(start api "$API")
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
worker_id=$(start worker "$WORKER")
# The api image sends the task by name, as the api does; the worker's result comes back.
answer=$(engine run --rm "${run_args[@]}" "${settings[@]}" "$API" python -c '
import os
from celery import Celery

app = Celery(broker=os.environ["REDIS_URL"], backend=os.environ["REDIS_URL"])
print(app.send_task("worker.ping", queue=os.environ["CELERY_QUEUE"]).get(timeout=60))
' 2>&1) || true
echo "worker.ping -> $answer"
if [ "$(echo "$answer" | tail -1)" != pong ]; then
  engine logs "$worker_id" 2>&1 | tail -30
  exit 1
fi
healthy "$worker_id" && echo "HEALTHCHECK passes"

say "SIGTERM"
stops_cleanly "$api_id"
stops_cleanly "$worker_id"
