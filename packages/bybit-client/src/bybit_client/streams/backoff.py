"""When to reconnect: jittered exponential backoff, and the per-IP budget of new connections.

Bybit allows at most 500 new WebSocket connections per 5 minutes per IP; going beyond gets the IP
refused for a while. ``ConnectionBudget`` spreads every connection attempt of the process (all
streams share the default budget) so that the limit is never reached, whatever the failures.
"""

import asyncio
import random
import time
from collections import deque
from dataclasses import dataclass

BYBIT_CONNECTIONS_PER_WINDOW = 500
BYBIT_CONNECTION_WINDOW_SECONDS = 300.0


@dataclass(frozen=True)
class Backoff:
    """Delay before reconnect attempt ``n`` (0-based): half fixed, half random ("equal jitter"), so
    that many clients dropped together do not come back together, and never a zero-delay loop.

    The attempt count starts again once a connection has stayed up ``reset_after`` seconds.
    """

    base: float = 0.2
    cap: float = 30.0
    reset_after: float = 5.0

    def delay(self, attempt: int, rand: random.Random | None = None) -> float:
        ceiling = min(self.cap, self.base * 2.0 ** min(attempt, 32))
        half: float = ceiling / 2
        return half + (rand or random).uniform(0, half)


class ConnectionBudget:
    """At most ``limit`` connection attempts per ``window`` seconds; ``acquire`` waits for a slot."""

    def __init__(
        self, limit: int = BYBIT_CONNECTIONS_PER_WINDOW, window: float = BYBIT_CONNECTION_WINDOW_SECONDS
    ) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("a connection budget needs a positive limit and window")
        self.limit = limit
        self.window = window
        self._attempts: deque[float] = deque()

    def wait_time(self, now: float | None = None) -> float:
        """Seconds until a new attempt fits in the budget (0 when it fits now)."""
        now = time.monotonic() if now is None else now
        while self._attempts and self._attempts[0] <= now - self.window:
            self._attempts.popleft()
        if len(self._attempts) < self.limit:
            return 0.0
        return self._attempts[0] + self.window - now

    async def acquire(self) -> None:
        # Nothing to wake up for earlier: a slot frees exactly when the oldest attempt leaves the window.
        while (wait := self.wait_time()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(wait)
        self._attempts.append(time.monotonic())

    @property
    def used(self) -> int:
        self.wait_time()
        return len(self._attempts)


# Bybit counts connections per IP: one budget for every stream of the process unless told otherwise.
DEFAULT_BUDGET = ConnectionBudget()
