"""Real processes for tests and benchmarks: ``worker-service worker`` and ``worker-service beat``.

``WorkerProcess`` starts the worker as a subprocess (in a process group of its own, so a test can
signal the whole group as the platform does) with the given settings and waits until its
heartbeat shows it consuming; ``BeatProcess`` runs ``worker-service beat``. (A private Redis to
stop and restart: ``local_stack.private``.)
"""

import contextlib
import os
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
from test_support.environment import ACCOUNTS_SETTINGS, WORKER_SETTINGS, settings_environment
from worker_service.heartbeat import read_beat


def wait_until(condition: Any, timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class _ServiceProcess:
    """``worker-service <command>`` in a subprocess of its own process group, its output in a file."""

    command = ""

    settings_names: tuple[str, ...] = WORKER_SETTINGS

    def __init__(self, settings: Settings, extra_env: dict[str, str] | None = None) -> None:
        self.settings = settings
        self._env = settings_environment(settings, self.settings_names, **(extra_env or {}))
        self._log = tempfile.NamedTemporaryFile(prefix=f"{self.command}-", suffix=".log", delete=False)  # noqa: SIM115
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError(f"the {self.command} is not started")
        return self.process.pid

    def _spawn(self, *args: str) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - our own entry point
            [sys.executable, "-m", "worker_service", self.command, *args],
            env=self._env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM (the worker's soft shutdown), then SIGKILL when it takes longer than ``timeout``."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL to the whole process group (pool processes included), as an out-of-memory kill
        or a lost instance: everything dies at once, a running task unacknowledged."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def terminate_group(self) -> None:
        """SIGTERM to the whole process group, as a deploy or a scale-down does; returns at once."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)

    def output(self) -> str:
        return Path(self._log.name).read_text(errors="replace")

    def start(self) -> Self:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        self._log.close()
        Path(self._log.name).unlink(missing_ok=True)


class WorkerProcess(_ServiceProcess):
    """``worker-service worker``, light by default (solo pool, no mingle or gossip)."""

    command = "worker"

    def __init__(
        self,
        settings: Settings,
        *,
        node: str | None = None,
        pool: str = "solo",
        concurrency: int = 1,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        super().__init__(settings, extra_env)
        self.node = node or f"worker-{os.getpid()}-{time.monotonic_ns()}@{socket.gethostname()}"
        self._args = ["--pool", pool, "--concurrency", str(concurrency), "--hostname", self.node]

    def start(self, timeout: float = 30.0, *, wait: bool = True) -> Self:
        """Start the worker and (unless ``wait`` is false) wait until it consumes the queue."""
        self._spawn(*self._args, "--without-mingle", "--without-gossip")
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until the started worker consumes the queue (its heartbeat is written)."""
        try:
            wait_until(self._ready, timeout, f"worker {self.node} to start")
        except TimeoutError:
            self.kill()
            raise TimeoutError(f"worker {self.node} did not start; its output:\n{self.output()}") from None
        except BaseException:
            # Whatever else stops the wait (Redis refusing the heartbeat read, an interrupt): the
            # caller never entered the ``with`` block, so nothing else would stop the process.
            self.kill()
            raise

    @property
    def consuming(self) -> bool:
        """Whether the worker's heartbeat shows it consuming."""
        return self._ready()

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"worker exited with {self.process.returncode}; its output:\n{self.output()}")
        beat = read_beat(self.settings.redis_url.get_secret_value(), self.settings.celery_queue, self.node)
        return beat is not None and beat.pid == self.process.pid


class BeatProcess(_ServiceProcess):
    """``worker-service beat``."""

    command = "beat"

    def start(self) -> Self:
        self._spawn("--schedule", f"{self._log.name}.schedule")
        return self


class AccountsProcess(_ServiceProcess):
    """``worker-service accounts``: given the user database and the master key (the accounts'
    settings), never the general database."""

    command = "accounts"
    settings_names = ACCOUNTS_SETTINGS

    def start(self) -> Self:
        self._spawn()
        return self

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None
