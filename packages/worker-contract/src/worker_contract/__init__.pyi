"""The public names of this package, read by type checkers and by lazy_loader (loaded on first use)."""

from .stream_status import (
    MISSED_STATUS_WRITES,
    StreamStatus,
    StreamTopicStatus,
    stream_status_key,
)
from .tasks import (
    PING,
    SWEEP_SYNC_RUNS,
    SYNC_INSTRUMENTS,
    SYNC_KLINES,
    TASK_ARGUMENTS,
    SyncInstrumentsArgs,
    SyncKlinesArgs,
)

__all__ = [
    "MISSED_STATUS_WRITES",
    "PING",
    "SWEEP_SYNC_RUNS",
    "SYNC_INSTRUMENTS",
    "SYNC_KLINES",
    "TASK_ARGUMENTS",
    "StreamStatus",
    "StreamTopicStatus",
    "SyncInstrumentsArgs",
    "SyncKlinesArgs",
    "stream_status_key",
]
