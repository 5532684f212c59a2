#!/bin/sh
# The steps every service image takes, in one place; each Dockerfile mounts this script (a bind
# mount from the build context: it never lands in a layer) and names its own files.
#   service-image.sh requirements FILE   third-party dependencies into /opt/venv, hashes required
#   service-image.sh projects DIR...     our projects as ordinary wheels into /opt/venv, then
#                                        `pip check` proves FILE covered every dependency
#   service-image.sh runtime             the final stage's base: tini as PID 1 and the app user
set -eu

# The CA bundle of a TLS-inspecting proxy, when the build is given one, never lands in a layer.
if [ -s /run/secrets/pipca ]; then
  export PIP_CERT=/run/secrets/pipca
fi
export PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

step=$1
shift
case "$step" in
  requirements)
    python3 -m venv /opt/venv
    /opt/venv/bin/pip install --no-deps --require-hashes --requirement "$1"
    ;;
  projects)
    /opt/venv/bin/pip wheel --no-deps --wheel-dir /wheels "$@"
    /opt/venv/bin/pip install --no-deps /wheels/*.whl
    /opt/venv/bin/pip check
    /opt/venv/bin/pip uninstall --yes --quiet pip setuptools
    ;;
  runtime)
    # tini forwards SIGTERM to the service and reaps orphaned children.
    apt-get update
    apt-get install -y --no-install-recommends tini=0.19.*
    rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log
    useradd --create-home --uid 10001 --user-group app
    ;;
  *)
    echo "service-image.sh: unknown step '$step' (requirements, projects or runtime)" >&2
    exit 2
    ;;
esac
