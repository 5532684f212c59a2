"""A hook for watching the client's calls: what metrics and tracing need, without the client knowing
of any metrics or tracing library.

Give a client an ``observer`` and each call (one endpoint, every attempt and wait included) runs
inside ``observer.call(method, endpoint)``; the context manager it returns sees the call end, or
fail with the ``BybitError`` the caller gets. Its value hears of each retry, with the wait before
it. ``endpoint`` is the path (``/v5/market/kline``), never the query, so it stays low-cardinality.
"""

from contextlib import AbstractContextManager
from typing import Protocol

from bybit_client.errors import BybitError


class CallEvents(Protocol):
    def retry(self, error: BybitError, delay: float) -> None:
        """The attempt failed with ``error``; the client waits ``delay`` seconds and sends again (a
        ``BybitRateLimitError`` means a rate-limit wait)."""


class CallObserver(Protocol):
    def call(self, method: str, endpoint: str) -> AbstractContextManager[CallEvents]:
        """Entered before the call's first attempt and left when it returned or raised."""
