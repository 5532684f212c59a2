#!/usr/bin/env bash
# Builds the local stand-in for python:3.11-slim-bookworm when it is missing (podman only).
#
# No registry can be reached here, so the base is a minimal Debian bookworm made by debootstrap
# with Debian's python3, imported as localhost/python-base:3.11. Built once, then reused.
set -euo pipefail
# shellcheck source=infra/images/engine.sh
source "$(dirname "$0")/engine.sh"

[ "$ENGINE" = podman ] || exit 0
if engine image exists "$LOCAL_BASE_IMAGE"; then
  exit 0
fi

mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
mirror=${mirror:-$(awk '/^deb / {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)}
rootfs=$(mktemp -d)
cleanup() {
  umount "$rootfs/proc" 2>/dev/null || true
  rm -rf "$rootfs"
}
trap cleanup EXIT

echo "building the base image $LOCAL_BASE_IMAGE (once) from $mirror"
start=$SECONDS
debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >/dev/null
mount -t proc proc "$rootfs/proc"
chroot "$rootfs" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
  --no-install-recommends python3 python3-venv python3-pip ca-certificates >/dev/null \
  && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*'
umount "$rootfs/proc"
tar -C "$rootfs" -c . | engine import --change 'ENV LANG=C.UTF-8' - "$LOCAL_BASE_IMAGE" >/dev/null
echo "base image built in $((SECONDS - start)) s"
