"""What the worker takes and what it publishes: the tasks' names and arguments, and the live
stream's status in Redis. The api and the worker both import it; it imports nothing of ours."""

from worker_contract.stream_status import (
    MISSED_STATUS_WRITES,
    StreamStatus,
    StreamTopicStatus,
    stream_status_key,
)
from worker_contract.tasks import (
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
