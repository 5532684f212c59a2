#!/usr/bin/env bash
# Builds the service images (all of them, or those named): `build.sh [api] [worker]`.
# With a Docker engine: docker build. Without: podman, on a locally built base image.
set -euo pipefail
# shellcheck source=infra/images/engine.sh
source "$(dirname "$0")/engine.sh"

services=("$@")
[ ${#services[@]} -gt 0 ] || services=(api worker)

"$ROOT/infra/images/base-image.sh"
for service in "${services[@]}"; do
  start=$(date +%s%N)
  build_service_image "$service"
  seconds=$(awk -v ns=$(($(date +%s%N) - start)) 'BEGIN { printf "%.1f", ns / 1e9 }')
  echo "built $(image_name "$service") with $ENGINE in $seconds s"
done
