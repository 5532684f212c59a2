# Sourced by the image scripts: picks the container engine and prepares it.
#
# A running Docker engine (a laptop, a CI runner with Docker) is used as is, with the default base
# image. Without one, podman builds and runs the same Dockerfiles: runc as runtime (crun refuses
# hybrid cgroups), overlay storage kept under .local/containers so the host store stays clean,
# ulimits the machine accepts, and a base image built locally since no registry can be reached.
# shellcheck shell=bash

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
IMAGE_PREFIX=${IMAGE_PREFIX:-bybit}
IMAGE_TAG=${IMAGE_TAG:-local}
LOCAL_BASE_IMAGE=localhost/python-base:3.11
# The host's CA bundle, passed to pip as a build secret (never a layer) for TLS-inspecting proxies.
CA_BUNDLE=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}

docker_engine_running() {
  command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1
}

# apt-get install, refreshing the package lists only when the first attempt cannot find them.
apt_install() {
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1 \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null; }
}

prepare_podman() {
  local missing=()
  for tool in podman buildah debootstrap runc; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]}"
    apt_install "${missing[@]}"
  fi

  local home=$ROOT/.local/containers
  mkdir -p "$home"
  cat >"$home/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$home/storage"
runroot = "$home/run"
EOF
  cat >"$home/containers.conf" <<'EOF'
[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]

[engine]
runtime = "runc"
EOF
  export CONTAINERS_STORAGE_CONF=$home/storage.conf
  export CONTAINERS_CONF=$home/containers.conf
}

if docker_engine_running; then
  ENGINE=docker
  BASE_IMAGE=${BASE_IMAGE:-python:3.11-slim-bookworm}
else
  ENGINE=podman
  prepare_podman
  BASE_IMAGE=${BASE_IMAGE:-$LOCAL_BASE_IMAGE}
fi

# The engine with the options every call needs here.
engine() {
  if [ "$ENGINE" = podman ]; then
    podman --runtime runc "$@"
  else
    docker "$@"
  fi
}

image_name() { # service
  echo "$IMAGE_PREFIX-$1:$IMAGE_TAG"
}

# Builds services/$1/Dockerfile with the repository root as context.
build_service_image() { # service
  build_image "$ROOT/services/$1/Dockerfile" "$(image_name "$1")"
}

# Builds the Dockerfile $1 as image $2, with the repository root as context.
build_image() { # dockerfile tag
  local args=(build --file "$1" --tag "$2" --build-arg "BASE_IMAGE=$BASE_IMAGE" --network host)
  if [ -s "$CA_BUNDLE" ]; then
    args+=(--secret "id=pipca,src=$CA_BUNDLE")
  fi
  if [ -n "${PIP_INDEX_URL:-}" ]; then
    args+=(--build-arg "PIP_INDEX_URL=$PIP_INDEX_URL")
  fi
  if [ "$ENGINE" = podman ]; then
    # HEALTHCHECK is a Docker-format field; the OCI format would drop it.
    args+=(--format docker --layers)
  else
    export DOCKER_BUILDKIT=1
  fi
  engine "${args[@]}" "$ROOT"
}

image_bytes() { # image
  engine image inspect --format '{{.Size}}' "$1"
}
