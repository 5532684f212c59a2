"""A local order book kept from Bybit's snapshot and deltas, with the update ids checked.

A delta must carry the update id right after the last one applied. Anything else (a gap, a
repeat, an older id) raises ``OrderBookGapError`` and leaves the book unsynced: it is never
patched into a wrong state. A snapshot, or a delta with ``u == 1`` (Bybit restarted its service),
replaces the whole book.
"""

from decimal import Decimal

from bybit_client.errors import OrderBookGapError
from bybit_client.streams.messages import Level, OrderBookMessage

_ZERO = Decimal(0)


class OrderBook:
    """Price levels of one symbol. ``synced`` is false until a snapshot arrives and after a gap."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}
        self.update_id: int | None = None
        self.seq: int | None = None
        self.synced = False

    def apply(self, message: OrderBookMessage) -> bool:
        """Apply a snapshot or delta; False when the book waits for a snapshot and ignored a delta.

        Raises ``OrderBookGapError`` when a delta does not follow the last update (the book is
        then cleared and waits for a snapshot).
        """
        if message.type == "snapshot" or message.update_id == 1:
            self.bids = {price: size for price, size in message.bids if size != _ZERO}
            self.asks = {price: size for price, size in message.asks if size != _ZERO}
        elif not self.synced:
            return False
        elif self.update_id is None or message.update_id != self.update_id + 1:
            expected = None if self.update_id is None else self.update_id + 1
            self.clear()
            raise OrderBookGapError(self.topic, expected, message.update_id)
        else:
            _patch(self.bids, message.bids)
            _patch(self.asks, message.asks)
        self.update_id = message.update_id
        self.seq = message.seq
        self.synced = True
        return True

    def clear(self) -> None:
        self.bids = {}
        self.asks = {}
        self.update_id = None
        self.seq = None
        self.synced = False

    def levels(self) -> tuple[list[Level], list[Level]]:
        """Bids best first (highest), asks best first (lowest)."""
        bids = sorted(self.bids.items(), reverse=True)
        asks = sorted(self.asks.items())
        return bids, asks

    def best_bid(self) -> Level | None:
        return max(self.bids.items(), default=None)

    def best_ask(self) -> Level | None:
        return min(self.asks.items(), default=None)

    def __repr__(self) -> str:
        return f"OrderBook({self.topic!r}, update_id={self.update_id}, synced={self.synced})"


def _patch(side: dict[Decimal, Decimal], levels: list[Level]) -> None:
    for price, size in levels:
        if size == _ZERO:
            side.pop(price, None)
        else:
            side[price] = size
