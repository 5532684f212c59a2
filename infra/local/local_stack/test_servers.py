"""`make test`: run the test command against PostgreSQL and Redis, private ones when none answer.

With ``TEST_DATABASE_URL`` / ``REDIS_URL`` set, or servers on the local ports (5432 and 6379
unless ``LOCAL_POSTGRES_PORT`` / ``LOCAL_REDIS_PORT`` say otherwise; the CI case), the command runs
as it is. Otherwise private servers (``local_stack.private``) start on free ports, and the command
gets ``TEST_DATABASE_URL`` (where the database fixtures create their databases) and ``REDIS_URL``
(and ``TEST_WORKER_REDIS_URL``, the worker fixtures' Redis) pointing at them.
"""

import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from contextlib import ExitStack

from core_config import build_settings, exit_on_config_error
from local_stack.ports import answers

TEST_DATABASE_VARIABLE = "TEST_DATABASE_URL"
REDIS_VARIABLE = "REDIS_URL"
# The worker's test fixtures keep to a Redis database index of their own (test_support.worker).
WORKER_REDIS_VARIABLE = "TEST_WORKER_REDIS_URL"
WORKER_REDIS_DATABASE = 7


def run_with_test_servers(command: Sequence[str]) -> int:
    with exit_on_config_error():
        settings = build_settings()
    postgres_port, redis_port = settings.local_postgres_port, settings.local_redis_port
    need_postgres = not os.environ.get(TEST_DATABASE_VARIABLE) and not answers(postgres_port)
    need_redis = not os.environ.get(REDIS_VARIABLE) and not answers(redis_port)
    if not need_postgres and not need_redis:
        os.execvp(command[0], list(command))  # noqa: S606 - the Makefile's own test command
    return _run_with_private_servers(command, postgres=need_postgres, redis=need_redis)


def _run_with_private_servers(command: Sequence[str], *, postgres: bool, redis: bool) -> int:
    # Imported here: the common case above (servers present) starts nothing and stays quick.
    from local_stack.private import private_postgres, private_redis  # noqa: PLC0415

    env = dict(os.environ)
    with ExitStack() as servers:
        started = []
        if postgres:
            server = servers.enter_context(private_postgres())
            env[TEST_DATABASE_VARIABLE] = server.url
            started.append(f"PostgreSQL at {server.url}")
        if redis:
            server = servers.enter_context(private_redis())
            env[REDIS_VARIABLE] = server.url
            env.setdefault(WORKER_REDIS_VARIABLE, f"redis://127.0.0.1:{server.port}/{WORKER_REDIS_DATABASE}")
            started.append(f"Redis at {server.url}")
        print(f"test servers: {', '.join(started)}", flush=True)
        # Ctrl-C reaches the test command through the terminal; this process waits for it to finish.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        return subprocess.call(list(command), env=env)  # noqa: S603


def main(command: Sequence[str]) -> int:
    if not command:
        print("usage: stack.py test-servers -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    return run_with_test_servers(command)
