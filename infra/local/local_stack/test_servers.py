"""`make test`: run the test command against PostgreSQL and Redis, embedded ones when none answer.

With ``TEST_DATABASE_URL`` / ``REDIS_URL`` set, or servers on the local ports (5432 and 6379
unless ``LOCAL_POSTGRES_PORT`` / ``LOCAL_REDIS_PORT`` say otherwise; the CI case), the command runs
as it is. Otherwise throw-away embedded servers start on free ports in a temporary folder, and the
command gets ``TEST_DATABASE_URL`` (the db-core fixtures' server) and
``REDIS_URL`` (and ``TEST_WORKER_REDIS_URL``, the worker fixtures' Redis) pointing at them.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from local_stack.ports import (
    DEFAULT_POSTGRES_PORT,
    DEFAULT_REDIS_PORT,
    POSTGRES_PORT_VARIABLE,
    REDIS_PORT_VARIABLE,
    answers,
    free_port,
    port_setting,
)

TEST_DATABASE_VARIABLE = "TEST_DATABASE_URL"
REDIS_VARIABLE = "REDIS_URL"
# The worker's test fixtures keep to a Redis database index of their own (worker_service.pytest_plugin).
WORKER_REDIS_VARIABLE = "TEST_WORKER_REDIS_URL"
WORKER_REDIS_DATABASE = 7


def run_with_test_servers(command: Sequence[str]) -> int:
    postgres_port = port_setting(POSTGRES_PORT_VARIABLE, DEFAULT_POSTGRES_PORT)
    redis_port = port_setting(REDIS_PORT_VARIABLE, DEFAULT_REDIS_PORT)
    need_postgres = not os.environ.get(TEST_DATABASE_VARIABLE) and not answers(postgres_port)
    need_redis = not os.environ.get(REDIS_VARIABLE) and not answers(redis_port)
    if not need_postgres and not need_redis:
        os.execvp(command[0], list(command))  # noqa: S606 - the Makefile's own test command
    return _run_with_embedded(command, postgres=need_postgres, redis=need_redis)


def _run_with_embedded(command: Sequence[str], *, postgres: bool, redis: bool) -> int:
    # Imported here: the common case above (servers present) starts nothing and stays quick.
    from local_stack.embedded import SERVER_STOP_SECONDS, EmbeddedServer, start_embedded  # noqa: PLC0415
    from local_stack.postgres_server import EmbeddedPostgres  # noqa: PLC0415
    from local_stack.processes import stop_all  # noqa: PLC0415
    from local_stack.redis_server import EmbeddedRedis  # noqa: PLC0415

    folder = Path(tempfile.mkdtemp(prefix="test-servers-"))
    folder.chmod(0o755)  # the embedded PostgreSQL may run as another user (see server_user)
    servers: list[EmbeddedServer] = []
    env = dict(os.environ)
    if postgres:
        embedded_postgres = EmbeddedPostgres(folder / "postgres", free_port(), ephemeral=True)
        servers.append(embedded_postgres)
        env[TEST_DATABASE_VARIABLE] = embedded_postgres.url
    if redis:
        embedded_redis = EmbeddedRedis(folder / "redis", free_port(), ephemeral=True)
        servers.append(embedded_redis)
        env[REDIS_VARIABLE] = embedded_redis.url
        env.setdefault(
            WORKER_REDIS_VARIABLE, f"redis://127.0.0.1:{embedded_redis.port}/{WORKER_REDIS_DATABASE}"
        )
        if shutil.which("redis-server") is None:
            # Tests that start a private Redis look for redis-server on PATH: the wheel's one, last.
            env["PATH"] = os.pathsep.join(filter(None, [env.get("PATH"), str(Path(sys.executable).parent)]))
    where = ", ".join(f"{type(s).__name__} at {s.url}" for s in servers)
    print(f"test servers: {where}", flush=True)
    children = start_embedded(servers, lambda: False)
    # Ctrl-C reaches the test command through the terminal; this process waits for it to finish.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return subprocess.call(list(command), env=env)  # noqa: S603
    finally:
        stop_all(children, timeout=SERVER_STOP_SECONDS)
        shutil.rmtree(folder, ignore_errors=True)


def main(command: Sequence[str]) -> int:
    if not command:
        print("usage: stack.py test-servers -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    return run_with_test_servers(command)
