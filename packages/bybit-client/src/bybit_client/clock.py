"""The request timestamp: local clock plus an offset learnt from Bybit's server time."""

import time


class ServerClock:
    """Milliseconds on Bybit's clock as best known: ``local + offset``.

    The offset comes from ``/v5/market/time``, measured at the midpoint of the round trip.
    """

    def __init__(self, offset_ms: int = 0) -> None:
        self.offset_ms = offset_ms

    @staticmethod
    def local_ms() -> int:
        return time.time_ns() // 1_000_000

    def now_ms(self) -> int:
        return self.local_ms() + self.offset_ms

    def learn(self, server_ms: int, sent_local_ms: int, received_local_ms: int) -> None:
        self.offset_ms = server_ms - (sent_local_ms + received_local_ms) // 2
