# syntax=docker/dockerfile:1
# A local stand-in for the official postgres image where no registry can be reached (podman here):
# Debian bookworm's PostgreSQL 15 behind the part of the official image's interface the compose
# stack uses (POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB, /docker-entrypoint-initdb.d, the data
# in /var/lib/postgresql/data, pg_isready). Built by infra/images/build.sh postgres.
ARG BASE_IMAGE=localhost/python-base:3.11
FROM ${BASE_IMAGE}
# Debian would make a cluster of its own on install; the entrypoint makes the one used.
RUN mkdir -p /etc/postgresql-common/createcluster.d \
    && echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.d/standin.conf \
    && apt-get update \
    && apt-get install -y --no-install-recommends "postgresql-15=15.*" \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log \
    && mkdir -p /var/lib/postgresql/data /docker-entrypoint-initdb.d \
    && chown postgres:postgres /var/lib/postgresql/data
COPY postgres-entrypoint.sh /usr/local/bin/
ENV PATH=/usr/lib/postgresql/15/bin:$PATH \
    PGDATA=/var/lib/postgresql/data
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["postgres-entrypoint.sh"]
CMD ["postgres"]
