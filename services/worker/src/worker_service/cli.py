"""``worker-service``: run the worker or beat, or check the worker's liveness.

    worker-service worker [celery worker options, e.g. --pool solo --concurrency 1]
    worker-service beat   [celery beat options, e.g. --schedule /tmp/beat-schedule]
    worker-service stream  keep the configured klines live from Bybit's WebSocket (one instance)
    worker-service accounts  follow the stored keys' accounts live (any number of instances)
    worker-service health [--node celery@HOST]   exit 0 when the worker's heartbeat is fresh

A bad setting, or time settings that cannot work together (``timing``), stop each of them with
one line per problem. The worker waits for the general database to be migrated before it takes
tasks (``schema_wait``). SIGTERM starts Celery's soft shutdown: no new tasks, running ones get
``WORKER_SOFT_SHUTDOWN_TIMEOUT`` seconds, then go back to the queue (``REMAP_SIGTERM=SIGQUIT``,
read by Celery when it is imported, turns SIGTERM into that cold shutdown with its soft phase;
the prefork pool's processes ignore SIGTERM, so a signal sent to the whole process group does
not cut their tasks short).
"""

import argparse
import asyncio
import os
import sys
import warnings
from collections.abc import Callable, Sequence

from core_config import exit_on_config_error, get_settings

# Each command imports what it runs in its own body: `--help` and a usage error load no more than
# the settings.


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="worker-service", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("worker", "run the Celery worker"),
        ("beat", "run beat (a second one waits for the lock)"),
    ):
        # Every option is celery's own (its --help included).
        commands.add_parser(name, help=text, add_help=False)
    commands.add_parser("stream", help="keep the configured klines live from Bybit's stream (one instance)")
    commands.add_parser(
        "accounts", help="follow the stored keys' accounts live from their private streams (any number)"
    )
    health = commands.add_parser("health", help="exit 0 when the worker's heartbeat in Redis is fresh")
    health.add_argument("--node", default=None, help="the worker's node name (default: celery@<hostname>)")
    return parser


def _run_celery(command: str, extra: Sequence[str]) -> int:
    if command == "worker":
        # Before Celery (billiard) is imported: it reads the variable once.
        os.environ["REMAP_SIGTERM"] = "SIGQUIT"
    from core_config import configure_logging  # noqa: PLC0415 - see the imports
    from worker_service.celery_app import create_app  # noqa: PLC0415 - heavy; `health` does without
    from worker_service.observability import observe_worker, start_observability  # noqa: PLC0415
    from worker_service.schema_wait import wait_for_schema  # noqa: PLC0415
    from worker_service.timing import check_timing  # noqa: PLC0415

    with exit_on_config_error():
        # Never the user database or the master key: the worker and beat are not given them.
        settings = get_settings().require("database_url_general")
        check_timing(settings)
    if command == "worker":
        configure_logging(settings.log_level, json_lines=settings.json_logs)
        if settings.is_local:
            # On a developer's machine or CI the stack may run as root. Celery then warns, on
            # eight lines, against running tasks as root; its danger (pickled messages run as
            # root) does not apply here, where only JSON is accepted. Images run as a plain user.
            from celery.exceptions import SecurityWarning  # noqa: PLC0415 - see the imports

            warnings.filterwarnings("ignore", category=SecurityWarning)
        wait_for_schema(settings)
    with exit_on_config_error():
        start_observability(settings, command)
    app = create_app(settings)
    if command == "worker":
        observe_worker(app)
    # Typed as never returning, but Celery hands back the exit code of click's Exit.
    start: Callable[[list[str]], object] = app.start
    # --quiet: no start-up banner; what it showed (the queue, the node) is on the "ready" lines.
    code = start(["--quiet", command, "--loglevel", settings.log_level, *extra])
    return code if isinstance(code, int) else 0


def _health(node: str | None) -> int:
    from worker_service.heartbeat import check_health, default_node_name  # noqa: PLC0415 - see the imports

    with exit_on_config_error():
        settings = get_settings()
    node = node or default_node_name()
    problem = check_health(
        settings.redis_url.get_secret_value(), settings.celery_queue, node, settings.worker_heartbeat_interval
    )
    if problem is not None:
        print(f"unhealthy: {problem}", file=sys.stderr)
        return 1
    print(f"healthy: {node} on queue {settings.celery_queue}")
    return 0


def _stream() -> int:
    from core_config import configure_logging  # noqa: PLC0415 - see the imports

    with exit_on_config_error():
        settings = get_settings().require("database_url_general")
    configure_logging(settings.log_level, json_lines=settings.json_logs)
    from worker_service.stream_process import run_stream  # noqa: PLC0415 - only this command needs it

    asyncio.run(run_stream(settings))
    return 0


def _accounts() -> int:
    from core_config import configure_logging  # noqa: PLC0415 - see the imports

    with exit_on_config_error():
        # The only command given the user database and the master key (and never the general one).
        settings = get_settings().require("database_url_user", "redis_url", "render_master_key_path")
        from db_user import Vault  # noqa: PLC0415 - only this command needs it

        Vault.from_settings(settings)  # a missing or unreadable master key stops it here, named
    configure_logging(settings.log_level, json_lines=settings.json_logs)
    with exit_on_config_error():
        from worker_service.observability import start_observability  # noqa: PLC0415

        start_observability(settings, "accounts")
    from worker_service.accounts_process import run_accounts  # noqa: PLC0415 - only this command needs it

    asyncio.run(run_accounts(settings))
    return 0


def main(argv: Sequence[str] | None = None) -> None:
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if args.command in ("health", "stream", "accounts") and extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command == "health":
        raise SystemExit(_health(args.node))
    if args.command == "stream":
        raise SystemExit(_stream())
    if args.command == "accounts":
        raise SystemExit(_accounts())
    raise SystemExit(_run_celery(args.command, extra))
