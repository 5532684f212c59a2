# syntax=docker/dockerfile:1
# The startup benchmark's baseline image: the bare FastAPI app (bare_fastapi.py) built as the api
# image is built (same base, same pinned requirements into /opt/venv, same final stage: tini, user
# 10001, same HEALTHCHECK), so the two differ only by the app they start. The app itself is mounted
# at /opt/bare_fastapi.py when the container runs (the build context, the repository root, admits
# only the projects' sources). The instructions up to the requirements repeat
# services/api/Dockerfile's, so a layer cache shares them.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
ARG PIP_INDEX_URL=""
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv /opt/venv
WORKDIR /src
COPY services/api/requirements.txt .
RUN --mount=type=secret,id=pipca,required=false \
    if [ -s /run/secrets/pipca ]; then export PIP_CERT=/run/secrets/pipca; fi; \
    /opt/venv/bin/pip install --no-deps --require-hashes --requirement requirements.txt

FROM ${BASE_IMAGE}
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini=0.19.* \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log \
    && useradd --create-home --uid 10001 --user-group app
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    API_HOST=0.0.0.0 \
    PORT=8000
USER 10001:10001
WORKDIR /home/app
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '8000') + '/health/live', timeout=4)"]
ENTRYPOINT ["tini", "--", "python", "/opt/bare_fastapi.py"]
