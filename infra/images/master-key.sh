#!/usr/bin/env bash
# Writes a fresh development master key (32 random bytes, base64) to $1 when none is there.
# Local stacks only: staging and production read a Secret File (infra/render/README.md).
set -euo pipefail
key=$1
[ -s "$key" ] && exit 0
mkdir -p "$(dirname "$key")"
(umask 077 && head -c 32 /dev/urandom | base64 >"$key")
