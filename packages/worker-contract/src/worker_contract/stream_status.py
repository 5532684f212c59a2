"""The live kline stream's status: the one shape the stream process writes to Redis and the API reads.

The stream process (``worker-service stream``) stores it as JSON under ``stream_status_key(queue)``
(one per deployment: the Celery queue names it) every few seconds with a time to live; a missing or
stale status means the stream is not running.
"""

from datetime import datetime

from pydantic import BaseModel, ConfigDict

STREAM_STATUS_PREFIX = "market-stream:status"


def stream_status_key(namespace: str) -> str:
    return f"{STREAM_STATUS_PREFIX}:{namespace}"


# A status older than this many write intervals means the stream process stopped writing it.
MISSED_STATUS_WRITES = 3


class StreamTopicStatus(BaseModel):
    model_config = ConfigDict(frozen=True)

    last_message_at: datetime | None = None
    messages: int = 0


class StreamStatus(BaseModel):
    """Health of the live kline stream: connection, freshness per subscription, write lag."""

    model_config = ConfigDict(frozen=True)

    at: datetime
    interval_seconds: float
    connected: bool
    reconnects: int
    connected_since: datetime | None = None
    topics: dict[str, StreamTopicStatus]
    candles_written: int = 0
    last_commit_at: datetime | None = None
    lag_ms: float | None = None
    """From Bybit's push of the last confirmed candle to its row committed (includes clock skew)."""
    max_lag_ms: float | None = None
    """The largest such lag since the previous status."""
    backfills: int = 0

    def age_seconds(self, now: datetime) -> float:
        return (now - self.at).total_seconds()

    def stale(self, now: datetime) -> bool:
        return self.age_seconds(now) > self.interval_seconds * MISSED_STATUS_WRITES
