"""A real API process for tests and benchmarks: ``api-serve`` on a free port, its output in a file.

``ApiProcess(settings, extra_env, folder)`` starts it with ``settings`` spelled out as variables
(a developer's ``.env`` does not leak in), ``wait_ready()`` waits for its liveness answer,
``output()`` reads what it wrote, ``stop()`` sends SIGTERM (then SIGKILL after 30 s).
"""

import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from local_stack.ports import free_port

from core_config import Settings
from test_support.environment import API_SETTINGS, settings_environment

API_SERVE = Path(sys.executable).with_name("api-serve")


def seconds_to_first_200(
    url: str, started: float, timeout: float, alive: Callable[[], bool], what: str, interval: float = 0.1
) -> float:
    """Polls ``url`` every ``interval`` s until it answers 200; the seconds since ``started``
    (``time.perf_counter()``). Gives up when ``alive()`` turns false (the process under test
    exited: RuntimeError) or after ``timeout`` (TimeoutError)."""
    deadline = started + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - a local URL of ours
                if response.status == 200:
                    return time.perf_counter() - started
        except OSError:
            pass
        if not alive():
            raise RuntimeError(f"{what} exited before answering 200 at {url}")
        if time.perf_counter() > deadline:
            raise TimeoutError(f"{what} gave no 200 at {url} within {timeout:g} s")
        time.sleep(interval)


class ApiProcess:
    """``api-serve`` on a free port with ``settings`` (and ``extra_env``), its output in ``cwd``."""

    def __init__(self, settings: Settings, extra_env: dict[str, str], cwd: Path) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        env = settings_environment(settings, API_SETTINGS, PORT=str(self.port), **extra_env)
        self.log = cwd / "api.log"
        self._output = self.log.open("wb")
        self.process = subprocess.Popen(  # noqa: S603 - our own entry point
            [str(API_SERVE)], env=env, cwd=cwd, stdout=self._output, stderr=subprocess.STDOUT
        )

    def wait_ready(self, timeout: float = 120.0) -> None:
        url = f"{self.base_url}/health/live"
        try:
            seconds_to_first_200(
                url, time.perf_counter(), timeout, lambda: self.process.poll() is None, "api-serve"
            )
        except (RuntimeError, TimeoutError) as exc:
            raise type(exc)(f"{exc}:\n{self.output()}") from None

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._output.close()
