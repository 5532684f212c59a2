"""Bybit's per-account (UID) API limits, as the fake plays them (docs/v5/rate-limit/rate-limit.mdx).

Each limit is a rolling one-second window per UID and endpoint; order writes count per business
line (linear and inverse together, option, spot), the reads of orders, executions, positions and
the wallet for every category together. A batch of linear, inverse or spot orders counts one per
order, and the orders past the limit fail while the others go through; an option batch counts
one. Every answer states the limit (``X-Bapi-Limit``), what is left of it
(``X-Bapi-Limit-Status``) and, once exceeded, when the window lets the next request through
(``X-Bapi-Limit-Reset-Timestamp``; otherwise the current time, as Bybit documents).
"""

import threading
from collections import deque
from dataclasses import dataclass

from bybit_client.enums import Category
from bybit_client.uid_limits import ORDER_WRITES, READS

WINDOW_MS = 1000
BATCHES = frozenset({"/v5/order/create-batch", "/v5/order/amend-batch", "/v5/order/cancel-batch"})


def limited(path: str) -> bool:
    return path in ORDER_WRITES or path in READS


@dataclass(frozen=True)
class Allowance:
    """What the limit let through of a request: ``granted`` of the ``cost`` asked (a batch may get
    part), and what the answer's headers say."""

    granted: int
    cost: int
    limit: int
    remaining: int
    reset_ms: int

    @property
    def refused(self) -> bool:
        return self.granted == 0

    def headers(self) -> list[tuple[bytes, bytes]]:
        return [
            (b"x-bapi-limit", str(self.limit).encode()),
            (b"x-bapi-limit-status", str(self.remaining).encode()),
            (b"x-bapi-limit-reset-timestamp", str(self.reset_ms).encode()),
        ]


class UidLimits:
    """The rolling windows of every account; ``scale`` multiplies every limit (Bybit raises them
    for higher VIP tiers; a benchmark raises them out of its way)."""

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = scale
        self._lock = threading.Lock()
        self._windows: dict[tuple[int, str, str], deque[int]] = {}

    def limit_of(self, path: str, category: Category | None) -> int:
        if path in READS:
            base = READS[path]
        else:
            contract, option, spot = ORDER_WRITES[path]
            base = spot if category is Category.SPOT else option if category is Category.OPTION else contract
        return max(1, round(base * self.scale))

    def take(self, user_id: int, path: str, category: Category | None, cost: int, now_ms: int) -> Allowance:
        """Count a request of ``cost`` against its window (a batch: its number of orders)."""
        if path in READS:
            line = ""
        elif category in (Category.SPOT, Category.OPTION):
            line = str(category)
        else:
            line = "contract"  # linear and inverse share their limits
        if path in BATCHES and category is Category.OPTION:
            cost = 1
        limit = self.limit_of(path, category)
        with self._lock:
            window = self._windows.setdefault((user_id, path, line), deque())
            while window and window[0] <= now_ms - WINDOW_MS:
                window.popleft()
            granted = max(0, min(cost, limit - len(window)))
            window.extend([now_ms] * granted)
            remaining = limit - len(window)
            # Once exceeded, the reset is when the oldest request leaves the window.
            reset = window[0] + WINDOW_MS if granted < cost and window else now_ms
        return Allowance(granted, cost, limit, remaining, reset)
