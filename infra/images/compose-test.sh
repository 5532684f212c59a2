#!/usr/bin/env bash
# Starts the whole compose stack here and proves it works and keeps each process to its own data
# (`make image-test` runs it once the images are built):
#   1. compose.yaml with simulated.yaml (the fake exchange as Bybit), fresh passwords, a project
#      name of its own; where no registry can be reached, the stand-in PostgreSQL and Redis;
#   2. waits for the databases and Redis to pass their health checks, migrate to exit 0, the api
#      to answer 200 on /health/ready and the worker's health check to pass;
#   3. runs a sync through it: an operator token from api-admin, POST /v1/market/sync, the worker
#      copies the exchange's instruments into the general database;
#   4. the worker container cannot reach the user database: its name does not resolve there, its
#      address does not answer, and the worker holds no setting of it;
#   5. stops the stack and removes its containers, volumes and networks, failure or not.
set -euo pipefail
# shellcheck source=infra/images/engine.sh
source "$(dirname "$0")/engine.sh"

export STACK_PROJECT=bybit_stacktest_$$ SIMULATED=1
STACK=$ROOT/infra/images/stack.sh
scratch=$(mktemp -d)

cleanup() {
  local status=$?
  if [ "$status" -ne 0 ]; then
    "$STACK" logs --tail 10 2>&1 | tail -60 >&2 || true
  fi
  "$STACK" down --volumes >/dev/null 2>&1 || true
  rm -rf "$scratch"
  [ "$status" -eq 0 ] && echo "compose stack test passed" || echo "compose stack test FAILED (status $status)" >&2
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '\n== %s\n' "$*"; }
container() { "$STACK" container "$1"; }

# GET or POST on the api's published port; prints the status, then the body.
api() { # method path [json body]
  python3 - "$API_PORT" "$TOKEN" "$@" <<'EOF'
import json, sys, urllib.error, urllib.request
port, token, method, path, *body = sys.argv[1:]
request = urllib.request.Request(
    f"http://127.0.0.1:{port}{path}", method=method, data=body[0].encode() if body else None,
    headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"} if token else {},
)
try:
    with urllib.request.urlopen(request, timeout=5) as response:
        print(response.status, response.read().decode())
except urllib.error.HTTPError as exc:
    print(exc.code, exc.read().decode())
except OSError as exc:
    print("down", exc)
EOF
}

say "compose stack $STACK_PROJECT (postgres $POSTGRES_IMAGE, redis $REDIS_IMAGE)"
start=$SECONDS
# Fresh passwords: nothing in the stack may work on the committed local defaults alone.
for variable in USER_DB_OWNER_PASSWORD GENERAL_DB_OWNER_PASSWORD BYBIT_USER_API_PASSWORD \
  BYBIT_GENERAL_API_PASSWORD BYBIT_GENERAL_WORKER_PASSWORD; do
  export "$variable=$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')"
done
API_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export API_PORT MASTER_KEY_FILE=$scratch/keys/master.key
export APP_USER=${APP_USER:-$([ "$(id -u)" = 0 ] && echo 10001:10001 || echo "$(id -u):$(id -g)")}
"$ROOT/infra/images/master-key.sh" "$MASTER_KEY_FILE" "$APP_USER"
TOKEN=""

"$STACK" up
for _ in $(seq 120); do
  ready=$(api GET /health/ready | cut -d' ' -f1)
  [ "$ready" = 200 ] && break
  sleep 1
done
echo "/health/ready: $ready"
[ "$ready" = 200 ]
"$STACK" healthy worker && echo "worker: HEALTHCHECK passes"
echo "stack up in $((SECONDS - start)) s"

say "a sync through the stack: api -> Redis -> worker -> fake exchange -> general database"
api_id=$(container api)
engine exec "$api_id" api-admin users create --email operator@stack.test >/dev/null
TOKEN=$(engine exec "$api_id" api-admin tokens issue --email operator@stack.test --name stack-test \
  --scope operator)
read -r code body < <(api POST /v1/market/sync '{"kind": "instruments", "category": "linear"}')
echo "POST /v1/market/sync: $code"
[ "$code" = 202 ]
task=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["task_id"])' "$body")
state=""
for _ in $(seq 60); do
  read -r code body < <(api GET "/v1/tasks/$task")
  state=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["state"])' "$body" 2>/dev/null || true)
  case "$state" in succeeded | failed) break ;; esac
  sleep 1
done
echo "task $task: $state"
[ "$state" = succeeded ] || { echo "$body" >&2; exit 1; }
rows=$(engine exec "$(container postgres-general)" psql -U bybit_general -d bybit_general -tAc \
  "SELECT count(*) FROM instruments WHERE category = 'linear'")
echo "instruments in the general database: $rows"
[ "$rows" -gt 0 ]

say "the worker cannot reach the user database"
user_db_address=$(engine inspect --format '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' \
  "$(container postgres-user)")
# With its own credentials, the best a compromised worker has; every line must say "refused".
engine exec "$(container worker)" python -c '
import os, socket, sys
import psycopg
from psycopg.conninfo import conninfo_to_dict

try:
    socket.getaddrinfo("postgres-user", 5432)
    print("postgres-user: resolves")
except socket.gaierror as exc:
    print(f"postgres-user: refused (the name does not resolve: {exc.strerror})")
own = conninfo_to_dict(os.environ["DATABASE_URL_GENERAL"])
try:
    psycopg.connect(**{**own, "host": sys.argv[1], "dbname": "bybit_user", "connect_timeout": 3}).close()
    print(f"{sys.argv[1]}:5432: connected")
except psycopg.OperationalError as exc:
    print(f"{sys.argv[1]}:5432: refused ({str(exc).strip().splitlines()[-1]})")
settings = sorted({"DATABASE_URL_USER", "DATABASE_MIGRATION_URL_USER", "RENDER_MASTER_KEY_PATH"} & set(os.environ))
print(f"user-database settings: refused (none in its environment)" if not settings else f"holds {settings}")
' "$user_db_address" | tee "$scratch/isolation.txt"
[ "$(grep -c refused "$scratch/isolation.txt")" -eq 3 ]
echo "compose stack test took $((SECONDS - start)) s"
