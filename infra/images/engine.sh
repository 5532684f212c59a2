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
  # The compose stack's networks: netavark, its DNS server (containers find each other by name)
  # and the firewall it writes its rules with.
  for package in netavark aardvark-dns iptables; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
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
  cat >"$home/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]

[engine]
runtime = "runc"

[network]
network_config_dir = "$home/networks"
EOF
  export CONTAINERS_STORAGE_CONF=$home/storage.conf
  export CONTAINERS_CONF=$home/containers.conf
}

# The local stand-in for the official image $1 (postgres, redis) of the compose stack.
standin_name() { # postgres|redis
  echo "localhost/$1-standin:$IMAGE_TAG"
}

# A Docker engine builds on the Dockerfiles' default base and pulls the official PostgreSQL and
# Redis images, each pinned by digest; podman builds on the local base and stand-ins built on it.
if docker_engine_running; then
  ENGINE=docker
  BASE_IMAGE=${BASE_IMAGE:-}
else
  ENGINE=podman
  prepare_podman
  BASE_IMAGE=${BASE_IMAGE:-$LOCAL_BASE_IMAGE}
  export POSTGRES_IMAGE=${POSTGRES_IMAGE:-$(standin_name postgres)}
  export REDIS_IMAGE=${REDIS_IMAGE:-$(standin_name redis)}
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
  build_image "$ROOT/services/$1/Dockerfile" "$(image_name "$1")" "$ROOT"
}

# The compose stack's stand-in for the official image $1 (postgres, redis), and its build.
build_standin_image() { # postgres|redis
  build_image "$ROOT/infra/images/standins/$1.Dockerfile" "$(standin_name "$1")" "$ROOT/infra/images/standins"
}

# compose with the engine's own tool: `docker compose`, or podman-compose from the dev tools
# (`make install`), since podman 4.3 has no `podman compose`.
compose() {
  if [ "$ENGINE" = docker ]; then
    docker compose "$@"
  else
    "$ROOT/.venv/bin/podman-compose" "$@"
  fi
}

# Builds the Dockerfile $1 as image $2 with the context $3. BASE_IMAGE, when set, replaces the
# Dockerfile's default base (here: the local one).
build_image() { # dockerfile tag context
  local args=(build --file "$1" --tag "$2" --network host)
  if [ -n "${BASE_IMAGE:-}" ]; then
    args+=(--build-arg "BASE_IMAGE=$BASE_IMAGE")
  fi
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
  engine "${args[@]}" "$3"
}

image_bytes() { # image
  engine image inspect --format '{{.Size}}' "$1"
}
