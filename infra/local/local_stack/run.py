"""`make run`: the servers, both databases migrated, a local master key, the simulated exchange, then
api, worker, beat, stream and the account process.

Everything runs in the foreground with the services' logs interleaved and prefixed; SIGINT or
SIGTERM stops the services first, then the exchange and the embedded servers.
"""

import os
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from core_config import Environment, Settings, build_settings, exit_on_config_error
from local_stack.commands import require
from local_stack.databases import ensure_database
from local_stack.discovery import Plan, plan_servers
from local_stack.embedded import SERVER_STOP_SECONDS, EmbeddedServer, start_embedded
from local_stack.errors import StackError
from local_stack.exchange import simulated, start_exchange
from local_stack.instance_lock import AlreadyRunningError, InstanceLock
from local_stack.master_key import ensure_local_master_key
from local_stack.postgres_server import EmbeddedPostgres
from local_stack.postgres_server import version as postgres_version
from local_stack.processes import Child, LogStream, spawn, stop_all
from local_stack.redis_server import EmbeddedRedis
from local_stack.redis_server import version as redis_version
from local_stack.signals import StopSignals

SERVICE_STOP_SECONDS = 25.0  # above the API's graceful-shutdown window, so requests can finish
_LOOP_SECONDS = 0.25
# A database that blips while it is being created or migrated (a server just started, a restart) is
# waited for this long, a try every few seconds, before the stack gives up.
PREPARE_RETRY_SECONDS = 30.0
PREPARE_RETRY_PAUSE = 2.0


def services(folder: Path) -> tuple[tuple[str, str, tuple[str, ...]], ...]:
    """(log prefix, console script, arguments) of each service; beat keeps its state in ``folder``."""
    return (
        ("api", "api-serve", ()),
        ("worker", "worker-service", ("worker",)),
        ("beat", "worker-service", ("beat", "--schedule", str(folder / "beat-schedule"))),
        ("stream", "worker-service", ("stream",)),
        ("accounts", "worker-service", ("accounts",)),
    )


class Stack:
    def __init__(self, folder: Path, logs: LogStream, stop: StopSignals) -> None:
        self.folder = folder
        self.logs = logs
        self.stop = stop
        self.servers: list[Child] = []
        self.services: list[Child] = []

    def say(self, text: str) -> None:
        self.logs.say("stack", text)

    def bring_up(self, settings: Settings, plan: Plan) -> bool:
        """Everything up to the services; False when a stop signal came first."""
        embedded: list[EmbeddedServer] = []
        if plan.embed_redis:
            embedded.append(EmbeddedRedis(self.folder / "redis", plan.redis_port))
        if plan.embed_postgres:
            embedded.append(EmbeddedPostgres(self.folder / "postgres", plan.postgres_port))
        self.say(self._servers_line(plan))
        self.servers = start_embedded(embedded, lambda: self.stop.requested)
        if self.stop.requested:
            return False
        env = self._service_env(plan)
        if not self._retrying("preparing the databases", lambda: self._prepare(plan, env)):
            return False
        if settings.environment == Environment.LOCAL:
            self.say(ensure_local_master_key(settings.render_master_key_path))
        if simulated(settings):
            self.servers.append(start_exchange(settings, env, self.logs))
            self.say(
                f"Bybit: the simulated exchange at {settings.bybit_api_url} and {settings.bybit_stream_url}"
                " (no network; BYBIT_NETWORK=testnet, demo or mainnet talks to Bybit)"
            )
        else:
            self.say(f"Bybit: {settings.bybit_network} at {settings.bybit_api_url}")
        for name, script, args in services(self.folder):
            child = spawn(name, [require(script), *args], env=env)
            self.logs.watch(child)
            self.services.append(child)
        return True

    def _servers_line(self, plan: Plan) -> str:
        postgres = f"PostgreSQL {plan.postgres_source}"
        if plan.embed_postgres:
            postgres = (
                f"PostgreSQL {postgres_version()} {plan.postgres_source} (data {self.folder / 'postgres'})"
            )
        redis = f"Redis {plan.redis_source}"
        if plan.embed_redis:
            redis = f"Redis {redis_version()} {plan.redis_source} (data {self.folder / 'redis'})"
        return f"{postgres}; {redis}"

    @staticmethod
    def _service_env(plan: Plan) -> dict[str, str]:
        # The services get the URLs chosen here, whatever .env says, so all of them agree.
        return {
            **os.environ,
            "DATABASE_URL_USER": plan.database_url_user,
            "DATABASE_URL_GENERAL": plan.database_url_general,
            "REDIS_URL": plan.redis_url,
            "PYTHONUNBUFFERED": "1",
        }

    def _retrying(self, what: str, attempt: Callable[[], bool]) -> bool:
        """Run ``attempt`` until it succeeds; a ``StackError`` is tried again every few seconds for
        ``PREPARE_RETRY_SECONDS``, saying what it waits for. False when a stop signal came first."""
        deadline = time.monotonic() + PREPARE_RETRY_SECONDS
        while True:
            try:
                return attempt()
            except StackError as exc:
                if time.monotonic() + PREPARE_RETRY_PAUSE > deadline:
                    raise
                self.say(f"{what} failed ({exc}); trying again in {PREPARE_RETRY_PAUSE:g} s")
            stop_at = time.monotonic() + PREPARE_RETRY_PAUSE
            while time.monotonic() < stop_at:
                if self.stop.requested:
                    return False
                self.logs.pump(0.1)

    def _prepare(self, plan: Plan, env: dict[str, str]) -> bool:
        """Both databases created when missing, then migrated; False when a stop signal came first."""
        for url in (plan.database_url_user, plan.database_url_general):
            if ensure_database(url):
                self.say(f"created database {url.rsplit('/', 1)[-1]}")
        child = spawn("migrate", [require("db-migrate"), "upgrade"], env=env)
        self.logs.watch(child)
        while child.running and not self.stop.requested:
            self.logs.pump(_LOOP_SECONDS)
        if self.stop.requested:
            stop_all([child], timeout=SERVICE_STOP_SECONDS, logs=self.logs)
            return False
        self.logs.drain([child], timeout=1.0)
        if child.process.returncode != 0:
            raise StackError(f"`db-migrate upgrade` failed with exit status {child.process.returncode}")
        return True

    def supervise(self, api_url: str) -> int:
        """Copy logs until a stop signal (0) or until a process exits on its own (1)."""
        announced = not any(child.name == "api" for child in self.services)
        while not self.stop.requested:
            self.logs.pump(_LOOP_SECONDS)
            for child in [*self.services, *self.servers]:
                if not child.running:
                    self.say(f"{child.name} exited with code {child.process.returncode}: stopping")
                    return 1
            if not announced and _http_ok(f"{api_url}/health/live"):
                self.say(f"API at {api_url} (OpenAPI at {api_url}/docs); Ctrl-C stops everything")
                announced = True
        self.say(f"{self.stop.received}: stopping")
        return 0

    def shut_down(self) -> None:
        stop_all(self.services, timeout=SERVICE_STOP_SECONDS, logs=self.logs)
        stop_all(self.servers, timeout=SERVER_STOP_SECONDS, logs=self.logs)


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=0.2) as response:  # noqa: S310 - our own http URL
            return bool(response.status == 200)
    except OSError:
        return False


def _api_url(settings: Settings) -> str:
    host = "127.0.0.1" if settings.api_host in ("0.0.0.0", "::", "") else settings.api_host  # noqa: S104
    return f"http://{host}:{settings.port}"


def run() -> int:
    logs = LogStream()
    with exit_on_config_error():
        settings = build_settings()
    folder = settings.local_stack_dir
    lock = InstanceLock(folder / "stack.pid")
    try:
        lock.acquire()
    except AlreadyRunningError as exc:
        logs.say("stack", f"already running (pid {exc.pid}, data in {folder}): stop it first with Ctrl-C")
        return 1
    stop = StopSignals()
    logs.watch_fd(stop.wakeup_fd)
    stack = Stack(folder, logs, stop)
    code = 0
    try:
        plan = plan_servers(settings)
        if stack.bring_up(settings, plan):
            code = stack.supervise(_api_url(settings))
    except (StackError, ValueError) as exc:
        stack.say(f"error: {exc}")
        code = 1
    finally:
        stack.shut_down()
        lock.release()
        stack.say("stopped")
    return code
