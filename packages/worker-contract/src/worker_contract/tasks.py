"""The tasks' contract between their senders (the api, beat) and the worker that runs them.

Task names and the keyword arguments each takes, declared once: the api builds its messages from
these, the worker's tasks take exactly these arguments (a test compares the signatures).
"""

from typing import Final, NotRequired, TypedDict

PING: Final = "worker.ping"
SYNC_INSTRUMENTS: Final = "sync.instruments"
SYNC_KLINES: Final = "sync.klines"
# Beat's alone: closes the syncs whose tasks ended without closing them.
SWEEP_SYNC_RUNS: Final = "sync.sweep"


class SyncInstrumentsArgs(TypedDict):
    """``sync.instruments``: one category, or None for every category."""

    category: str | None


class SyncKlinesArgs(TypedDict):
    """``sync.klines``: candles starting in [start_ms, end_ms] (epoch ms, both inclusive).

    Without ``start_ms`` the sync continues from the newest stored candle; without ``end_ms`` it
    goes up to now.
    """

    category: str
    symbol: str
    interval: str
    start_ms: NotRequired[int | None]
    end_ms: NotRequired[int | None]


TASK_ARGUMENTS: Final[dict[str, type]] = {
    SYNC_INSTRUMENTS: SyncInstrumentsArgs,
    SYNC_KLINES: SyncKlinesArgs,
}
