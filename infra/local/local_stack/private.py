"""A private PostgreSQL or Redis: an embedded server of the caller's own, on a free port.

The one way tests, benchmarks and `make test` start a server nobody else uses: a throw-away folder,
no persistence, stopped (and its folder deleted) on exit. ``stop`` and ``restart`` (same port, same
folder) let a test play an outage without disturbing the shared servers.

    with private_redis() as redis:
        use(redis.url)
        redis.stop()       # the server is down
        redis.restart()    # and back, on the same port
"""

import shutil
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Self

from local_stack.embedded import SERVER_STOP_SECONDS, EmbeddedServer, start_embedded
from local_stack.ports import free_port
from local_stack.postgres_server import EmbeddedPostgres
from local_stack.processes import Child, stop_all
from local_stack.redis_server import EmbeddedRedis


class PrivateServer:
    """One embedded server in a temporary folder; a context manager that starts and removes it."""

    def __init__(self, server: EmbeddedServer, folder: Path) -> None:
        self.server = server
        self.folder = folder
        self._child: Child | None = None

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def running(self) -> bool:
        return self._child is not None and self._child.running

    def start(self) -> Self:
        """Start the server and wait until it answers."""
        (self._child,) = start_embedded([self.server], lambda: False)
        return self

    def stop(self) -> None:
        """Stop the server (its data stays until the ``with`` block ends)."""
        if self._child is not None:
            stop_all([self._child], timeout=SERVER_STOP_SECONDS)
            self._child = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            shutil.rmtree(self.folder, ignore_errors=True)
            raise

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


def _folder(kind: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix=f"private-{kind}-"))
    folder.chmod(0o755)  # the embedded PostgreSQL may run as another user (see server_user)
    return folder


def private_redis(port: int | None = None) -> PrivateServer:
    """A Redis of the caller's own (``url`` names database 0); start it with ``with``."""
    folder = _folder("redis")
    return PrivateServer(EmbeddedRedis(folder / "redis", port or free_port(), ephemeral=True), folder)


def private_postgres(port: int | None = None) -> PrivateServer:
    """A PostgreSQL of the caller's own (``url`` names the maintenance database, user postgres)."""
    folder = _folder("postgres")
    return PrivateServer(EmbeddedPostgres(folder / "postgres", port or free_port(), ephemeral=True), folder)
