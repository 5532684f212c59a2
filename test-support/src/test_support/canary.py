"""pytest plugin: no secret the suite uses appears in any log line the suite writes.

``CANARY_SECRET`` is the Bybit API secret the suite's credential tests store, sign with and decrypt;
the tokens the tests issue and the master key files they make are watched too (``watch``). A
handler on the root logger renders every record a test process logs as production does (the JSON
line of ``core_config.log_formatter``, exception text included) and looks for each watched value; a
test in whose time one appeared fails at teardown, naming the line. Each pytest-xdist worker is a
process of its own with its own handler, so it works there as in one process.

What it cannot see: lines written by processes the tests start (``api-serve``, the worker); the
tests of those read their output themselves.
"""

import logging
from collections.abc import Iterator

import pytest

from core_config import log_formatter

CANARY_SECRET = "CanaryBybitSecret-suite-5f0c9d2e7a41"  # noqa: S105 - a canary, meant to be seen
_watched: set[str] = {CANARY_SECRET}


def watch(*values: str) -> None:
    """Watch for these secrets too (a token, a key's encodings) from now on, in this process."""
    _watched.update(value for value in values if len(value) >= 8)


class CanaryHandler(logging.Handler):
    """Keeps every rendered line that holds a watched value."""

    def __init__(self) -> None:
        super().__init__(level=logging.NOTSET)
        self.set_name("test_support.canary")
        self.setFormatter(log_formatter(json_lines=True))
        self.leaks: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        line = self.format(record)
        if any(value in line for value in _watched):
            self.leaks.append(line)


_handler = CanaryHandler()


def pytest_configure(config: pytest.Config) -> None:
    logging.getLogger().addHandler(_handler)


@pytest.fixture(autouse=True)
def _no_secret_in_the_log() -> Iterator[None]:
    _handler.leaks.clear()
    yield
    leaks, _handler.leaks[:] = list(_handler.leaks), []
    if leaks:
        pytest.fail(f"a watched secret was logged: {leaks[0][:500]}", pytrace=False)
