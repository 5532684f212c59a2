"""pytest fixtures for the fake exchange: ``fake_bybit`` and ``fake_bybit_server``.

Not loaded on its own: a test suite names it, ``pytest_plugins = ["bybit_client.testing.plugin"]``
in its root conftest.py. One server per test session on a real port; each test gets it reset (no
keys, default data, no faults, zero counters).
"""

from collections.abc import Iterator

import pytest

from bybit_client.testing.server import FakeBybit


@pytest.fixture(scope="session")
def fake_bybit_server() -> Iterator[FakeBybit]:
    """The session's fake Bybit V5 server, as the last test left it."""
    with FakeBybit() as server:
        yield server


@pytest.fixture
def fake_bybit(fake_bybit_server: FakeBybit) -> FakeBybit:
    """The fake Bybit V5 server, reset for this test."""
    fake_bybit_server.reset()
    return fake_bybit_server
