#!/usr/bin/env bash
# Writes a development master key file at $1 when none is there, with the api image's own
# generator (`api-admin master-key generate`: JSON, one primary key, mode 0600). As root, the file
# is then given to $2 (uid:gid), the user the containers run as; otherwise it stays the caller's.
# Local stacks only: staging and production read a Secret File (infra/render/README.md).
set -euo pipefail
# shellcheck source=infra/images/engine.sh
source "$(dirname "$0")/engine.sh"

key=$1
owner=${2:-}
[ -s "$key" ] && exit 0
mkdir -p "$(dirname "$key")"
folder=$(cd "$(dirname "$key")" && pwd)
engine run --rm --no-healthcheck --network none --user "$(id -u):$(id -g)" -v "$folder:/keys" \
  "$(image_name api)" api-admin master-key generate --path "/keys/$(basename "$key")"
if [ -n "$owner" ] && [ "$(id -u)" = 0 ]; then
  chown "$owner" "$key"
fi
