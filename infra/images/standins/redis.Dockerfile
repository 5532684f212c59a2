# syntax=docker/dockerfile:1
# A local stand-in for the official redis image where no registry can be reached (podman here):
# Debian bookworm's Redis 7.0, run as user redis in /data, reachable from other containers as the
# official image is (protected mode off; the compose network is what keeps it private). Built by
# infra/images/build.sh redis.
ARG BASE_IMAGE=localhost/python-base:3.11
FROM ${BASE_IMAGE}
RUN apt-get update \
    && apt-get install -y --no-install-recommends "redis-server=5:7.0.*" "redis-tools=5:7.0.*" \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log \
    && mkdir -p /data \
    && chown redis:redis /data
COPY redis-entrypoint.sh /usr/local/bin/
# The package's system user: its id is whatever Debian gave it in this image, which owns /data.
# hadolint ignore=DL3066
USER redis
WORKDIR /data
EXPOSE 6379
ENTRYPOINT ["redis-entrypoint.sh"]
CMD ["redis-server"]
