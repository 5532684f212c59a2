"""pytest fixtures for dead and private servers of any kind: ``closed_port``, ``silent_port``,
``private_redis``. Ports and servers come from ``local_stack`` (the local stack's helper), the one
place that finds free ports and starts private PostgreSQL and Redis servers.
"""

import socket
from collections.abc import Iterator

import pytest
from local_stack.ports import LOCAL_HOST, free_port
from local_stack.private import PrivateServer
from local_stack.private import private_redis as start_private_redis


@pytest.fixture
def closed_port() -> int:
    """A local port nothing listens on: a server that is down."""
    return free_port()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A local port that accepts TCP connections and never says a word: a server that hung."""
    with socket.socket() as server:
        server.bind((LOCAL_HOST, 0))
        server.listen(16)
        yield server.getsockname()[1]


@pytest.fixture
def private_redis() -> Iterator[PrivateServer]:
    """A Redis of this test's own, to stop and restart without disturbing anyone."""
    with start_private_redis() as server:
        yield server
