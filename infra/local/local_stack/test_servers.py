"""`make test`: run the test command against PostgreSQL and Redis, embedded ones when none answer.

With ``TEST_DATABASE_URL`` / ``REDIS_URL`` set, or servers on the default local ports (the CI
case), the command runs as it is. Otherwise throw-away embedded servers start on free ports in a
temporary folder, and the command gets ``TEST_DATABASE_URL`` (the db-core fixtures' server) and
``REDIS_URL`` pointing at them.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from local_stack.discovery import DEFAULT_POSTGRES_PORT, DEFAULT_REDIS_PORT, answers, free_port
from local_stack.embedded import SERVER_STOP_SECONDS, EmbeddedServer, start_embedded
from local_stack.processes import stop_all

TEST_DATABASE_VARIABLE = "TEST_DATABASE_URL"
REDIS_VARIABLE = "REDIS_URL"


def run_with_test_servers(command: Sequence[str]) -> int:
    from local_stack.postgres_server import EmbeddedPostgres  # noqa: PLC0415 - only without servers
    from local_stack.redis_server import EmbeddedRedis  # noqa: PLC0415

    need_postgres = not os.environ.get(TEST_DATABASE_VARIABLE) and not answers(DEFAULT_POSTGRES_PORT)
    need_redis = not os.environ.get(REDIS_VARIABLE) and not answers(DEFAULT_REDIS_PORT)
    if not need_postgres and not need_redis:
        os.execvp(command[0], list(command))  # noqa: S606 - the Makefile's own test command
    folder = Path(tempfile.mkdtemp(prefix="test-servers-"))
    folder.chmod(0o755)  # the embedded PostgreSQL may run as another user (see server_user)
    servers: list[EmbeddedServer] = []
    env = dict(os.environ)
    if need_postgres:
        postgres = EmbeddedPostgres(folder / "postgres", free_port(), ephemeral=True)
        servers.append(postgres)
        env[TEST_DATABASE_VARIABLE] = postgres.url
    if need_redis:
        redis = EmbeddedRedis(folder / "redis", free_port(), ephemeral=True)
        servers.append(redis)
        env[REDIS_VARIABLE] = redis.url
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
