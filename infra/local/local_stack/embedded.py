"""Starting a set of embedded servers side by side, and stopping them all if one fails."""

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from local_stack.processes import Child, stop_all

SERVER_STOP_SECONDS = 20.0


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
