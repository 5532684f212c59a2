#!/usr/bin/env bash
# Builds the service images (all of them, or those named): `build.sh [api] [worker]`, and with
# podman the compose stack's stand-ins for the official PostgreSQL and Redis images:
# `build.sh postgres redis` (a Docker engine pulls the official ones; nothing to build).
set -euo pipefail
# shellcheck source=infra/images/engine.sh
source "$(dirname "$0")/engine.sh"

images=("$@")
[ ${#images[@]} -gt 0 ] || images=(api worker)

"$ROOT/infra/images/base-image.sh"
for image in "${images[@]}"; do
  start=$(date +%s%N)
  case "$image" in
    api | worker)
      build_service_image "$image"
      name=$(image_name "$image")
      ;;
    postgres | redis)
      [ "$ENGINE" = podman ] || continue
      build_standin_image "$image"
      name=$(standin_name "$image")
      ;;
    *)
      echo "build.sh: unknown image '$image' (api, worker, postgres or redis)" >&2
      exit 2
      ;;
  esac
  seconds=$(awk -v ns=$(($(date +%s%N) - start)) 'BEGIN { printf "%.1f", ns / 1e9 }')
  echo "built $name with $ENGINE in $seconds s"
done
