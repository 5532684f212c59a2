"""A real API process for tests and benchmarks: ``api-serve`` on a free port, its output in a file.

``ApiProcess(settings, extra_env, folder)`` starts it with ``settings`` spelled out as variables
(a developer's ``.env`` does not leak in), ``wait_ready()`` waits for its liveness answer,
``output()`` reads what it wrote, ``stop()`` sends SIGTERM (then SIGKILL after 30 s).
"""

import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from local_stack.ports import free_port

from core_config import Settings
from test_support.environment import API_SETTINGS, settings_environment

API_SERVE = Path(sys.executable).with_name("api-serve")


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
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"api-serve exited with {self.process.returncode}:\n{self.output()}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/health/live", timeout=1) as answer:  # noqa: S310
                    if answer.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"api-serve did not answer within {timeout:g} s:\n{self.output()}")
            time.sleep(0.1)

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
