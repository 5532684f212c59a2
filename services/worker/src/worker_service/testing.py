"""Real processes for tests and benchmarks: a worker (``worker-service worker``) and a private Redis.

``WorkerProcess`` starts the worker as a subprocess with the given settings and waits until its
heartbeat shows it consuming; ``RedisServer`` runs a redis-server of its own on a free port, for
tests that must stop or restart Redis (never the shared one).
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from core_config import Settings
from worker_service.heartbeat import read_beat

# Settings a worker subprocess is given explicitly (a developer's .env must not leak into tests).
_PASSED_SETTINGS = (
    "environment",
    "log_level",
    "database_url_user",
    "database_url_general",
    "redis_url",
    "bybit_network",
    "bybit_api_url",
    "bybit_timeout",
    "celery_queue",
    "task_result_ttl",
    "task_soft_time_limit",
    "task_time_limit",
    "celery_visibility_timeout",
    "worker_concurrency",
    "worker_heartbeat_interval",
    "sync_retry_max",
    "sync_retry_backoff",
    "sync_kline_category",
    "sync_kline_symbols",
    "sync_kline_intervals",
    "bybit_stream_url",
    "stream_ping_interval",
    "stream_silence_timeout",
    "stream_status_interval",
)


def _text(value: Any) -> str:
    if hasattr(value, "get_secret_value"):
        return str(value.get_secret_value())
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value.value if hasattr(value, "value") else value)


def settings_environment(settings: Settings) -> dict[str, str]:
    """This process's environment with ``settings`` spelled out as variables, for a subprocess."""
    env = dict(os.environ)
    for name in _PASSED_SETTINGS:
        env[name.upper()] = _text(getattr(settings, name))
    return env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until(condition: Any, timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class WorkerProcess:
    """``worker-service worker`` in a subprocess, light by default (solo pool, no mingle or gossip)."""

    def __init__(
        self,
        settings: Settings,
        *,
        node: str | None = None,
        pool: str = "solo",
        concurrency: int = 1,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.settings = settings
        self.node = node or f"worker-{os.getpid()}-{time.monotonic_ns()}@{socket.gethostname()}"
        self._args = ["--pool", pool, "--concurrency", str(concurrency), "--hostname", self.node]
        self._env = {**settings_environment(settings), **(extra_env or {})}
        self._log = tempfile.NamedTemporaryFile(prefix="worker-", suffix=".log", delete=False)  # noqa: SIM115
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError("the worker is not started")
        return self.process.pid

    def start(self, timeout: float = 30.0) -> Self:
        """Start the worker and wait until it consumes the queue (its heartbeat is written)."""
        command = [sys.executable, "-m", "worker_service", "worker", *self._args, "--without-mingle"]
        self.process = subprocess.Popen(  # noqa: S603 - our own entry point
            [*command, "--without-gossip"], env=self._env, stdout=self._log, stderr=subprocess.STDOUT
        )
        try:
            wait_until(self._ready, timeout, f"worker {self.node} to start")
        except TimeoutError:
            self.kill()
            raise TimeoutError(f"worker {self.node} did not start; its output:\n{self.output()}") from None
        return self

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"worker exited with {self.process.returncode}; its output:\n{self.output()}")
        beat = read_beat(self.settings.redis_url.get_secret_value(), self.settings.celery_queue, self.node)
        return beat is not None and beat.pid == self.process.pid

    def stop(self, timeout: float = 15.0) -> None:
        """Warm shutdown (SIGTERM), then SIGKILL when it takes longer than ``timeout``."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL: the worker dies at once, its task unacknowledged."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def output(self) -> str:
        return Path(self._log.name).read_text(errors="replace")

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        self._log.close()
        Path(self._log.name).unlink(missing_ok=True)


class RedisServer:
    """A private redis-server on a free port, without persistence; ``restart`` keeps the port."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> Self:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.process = subprocess.Popen(  # noqa: S603 - a fixed binary with fixed arguments
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self._answers, timeout, f"redis-server on port {self.port}")
        return self

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as connection:
                connection.sendall(b"PING\r\n")
                return connection.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
