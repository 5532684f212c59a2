"""The live kline stream: Bybit's kline pushes -> the general database, with no hole in the series.

``KlineStreamer`` subscribes to ``kline.{interval}.{symbol}`` for the configured symbols and
intervals on one supervised connection (``bybit_client.streams``) and upserts every confirmed
candle as it closes. Three things keep the stored series whole:
- after every connect (the first included) and whenever a confirmed candle does not follow the
  previous one of its series (a push lost without a disconnect), the series' holes are found from
  what is stored (``db_general.missing_candles`` over its last ``KLINE_WINDOW`` closed candles,
  never from its newest row) and fetched through REST, beside the live pushes;
- a backfill that fails (REST down, the database away) is tried again, a second later, until it
  succeeds: each try looks for the holes afresh, so a live candle committed meanwhile hides none;
- rows are never dropped: a failed write is retried until it succeeds or the process stops.

Only closed candles are written: the backfill stops before the open candle, whose final values
come with its confirmed push, so a late backfill can never overwrite a final candle with a
partial one.

The socket is read on the event loop; database work is sync (psycopg COPY in ``upsert_klines``,
the holes query) and runs in a worker thread, one batch of candles at a time. Whatever arrives
while a batch is being written goes into the next batch, so a burst of closes (every series
closing at the same minute) costs a few transactions, not one per candle.
"""

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bybit_client import AsyncBybitClient, Interval, datetime_to_ms
from bybit_client.streams import (
    Backoff,
    BybitStream,
    Connected,
    Disconnected,
    KlineMessage,
    StreamSettings,
    kline_topic,
    public_url,
)
from core_config import get_logger
from db_core import Database
from db_general import Hole, KlineRow, Series, missing_candles, upsert_klines
from worker_contract import StreamStatus, StreamTopicStatus
from worker_service.syncing import kline_row, window_start

logger = get_logger(__name__)

WRITE_RETRY_SECONDS = 1.0
LINGER_STEP = 0.002  # seconds the writer waits for more of a burst, while it keeps coming...
LINGER_MAX = 0.02  # ...up to this long
BACKFILL_CONCURRENCY = 4


def topic_of(series: Series) -> str:
    return kline_topic(series.interval.value, series.symbol)


@dataclass(frozen=True)
class Commit:
    """One committed batch: how many candles, when, and the push times of the live ones (ms)."""

    rows: int
    committed_at: float
    pushed_at_ms: tuple[int, ...]


@dataclass
class _Pending:
    row: KlineRow
    pushed_at_ms: int | None


@dataclass
class StreamCounters:
    candles_written: int = 0
    backfills: int = 0
    last_commit_at: float | None = None
    lag_ms: float | None = None
    max_lag_ms: float | None = None


class CandleWriter:
    """Writes candles in batches, one transaction at a time, off the event loop; never drops a row."""

    def __init__(
        self,
        database: Database,
        counters: StreamCounters,
        on_commit: Callable[[Commit], None] | None = None,
    ) -> None:
        self._database = database
        self._counters = counters
        self._on_commit = on_commit
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._busy = False

    def put(self, row: KlineRow, pushed_at_ms: int | None = None) -> None:
        self._queue.put_nowait(_Pending(row, pushed_at_ms))

    @property
    def idle(self) -> bool:
        return self._queue.empty() and not self._busy

    async def run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            self._busy = True
            # A burst (every series closing at the same minute) arrives over a few milliseconds:
            # gather it while it keeps coming, up to LINGER_MAX, and write it in one transaction.
            lingered = 0.0
            while True:
                while not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                if lingered >= LINGER_MAX:
                    break
                await asyncio.sleep(LINGER_STEP)
                lingered += LINGER_STEP
                if self._queue.empty():
                    break
            try:
                await self._write(batch)
            finally:
                self._busy = False

    async def _write(self, batch: list[_Pending]) -> None:
        # The same candle twice in a batch (a backfill and its confirmed push): the last one wins.
        rows = list({_key(item.row): item.row for item in batch}.values())
        while True:
            try:
                await asyncio.to_thread(self._upsert, rows)
                break
            except Exception as error:  # the database is away: wait and write the same rows again
                logger.warning(
                    "candle write failed, retrying",
                    rows=len(rows),
                    error=f"{type(error).__name__}: {error}",
                )
                await asyncio.sleep(WRITE_RETRY_SECONDS)
        committed_at = time.time()
        pushed = tuple(item.pushed_at_ms for item in batch if item.pushed_at_ms is not None)
        counters = self._counters
        counters.candles_written += len(rows)
        counters.last_commit_at = committed_at
        if pushed:
            lags = [committed_at * 1000 - at for at in pushed]
            counters.lag_ms = lags[-1]
            counters.max_lag_ms = max([*lags, counters.max_lag_ms or 0.0])
        if self._on_commit is not None:
            self._on_commit(Commit(len(rows), committed_at, pushed))

    def _upsert(self, rows: list[KlineRow]) -> None:
        with self._database.sync_session() as session:
            upsert_klines(session, rows)


def _key(row: KlineRow) -> tuple[str, str, str, datetime]:
    return (row.category, row.symbol, row.interval, row.start_time)


@dataclass
class KlineStreamer:
    """Keeps the configured kline series live in the general database (see the module's docstring)."""

    stream_base_url: str
    category: str
    symbols: Sequence[str]
    intervals: Sequence[str]
    database: Database
    rest: AsyncBybitClient
    stream_settings: StreamSettings = field(default_factory=StreamSettings)
    on_commit: Callable[[Commit], None] | None = None
    counters: StreamCounters = field(default_factory=StreamCounters)
    ca_file: Path | None = None  # the CA bundle the stream trusts (the REST client's BYBIT_CA_FILE)

    def __post_init__(self) -> None:
        self.series = [
            Series(self.category, symbol, Interval(interval))
            for symbol in self.symbols
            for interval in self.intervals
        ]
        self._by_topic = {topic_of(series): series for series in self.series}
        self._last_confirmed: dict[Series, datetime] = {}
        self._writer = CandleWriter(self.database, self.counters, self.on_commit)
        self._backfill_wanted: set[Series] = set()
        self._backfill_signal = asyncio.Event()
        self.stream = BybitStream(
            public_url(self.stream_base_url, self.category),
            [topic_of(series) for series in self.series],
            settings=self.stream_settings,
            ca_file=self.ca_file,
        )

    async def run(self) -> None:
        """Run until cancelled; the socket is closed on the way out."""
        async with self.stream, asyncio.TaskGroup() as tasks:
            tasks.create_task(self._writer.run(), name="candle writer")
            tasks.create_task(self._backfiller(), name="backfill")
            await self._consume()

    async def flush(self) -> None:
        """Wait until every received candle is committed (bound it with ``asyncio.timeout``)."""
        while not self._writer.idle:  # noqa: ASYNC110 - the writer has no event to offer
            await asyncio.sleep(0.01)

    async def _consume(self) -> None:
        async for item in self.stream:
            if isinstance(item, KlineMessage):
                self._on_klines(item)
            elif isinstance(item, Connected):
                # Whatever closed while down (or before this process started) comes through REST.
                self._want_backfill(self.series)
            elif isinstance(item, Disconnected):
                self._last_confirmed.clear()

    def _on_klines(self, message: KlineMessage) -> None:
        series = self._by_topic.get(message.topic)
        if series is None:
            return
        pushed_at = datetime_to_ms(message.ts)
        for candle in message.candles:
            if not candle.confirm:
                continue
            start = candle.start
            previous = self._last_confirmed.get(series)
            if previous is not None and start > series.interval.after(previous):
                logger.warning(
                    "kline push missing, backfilling the series",
                    topic=topic_of(series),
                    after=previous.isoformat(),
                    received=start.isoformat(),
                )
                self._want_backfill([series])
            if previous is None or start > previous:
                self._last_confirmed[series] = start
            self._writer.put(
                kline_row(series.category, series.symbol, series.interval.value, candle.kline()), pushed_at
            )

    def _want_backfill(self, series: Iterable[Series]) -> None:
        self._backfill_wanted.update(series)
        self._backfill_signal.set()

    async def _backfiller(self) -> None:
        while True:
            await self._backfill_signal.wait()
            self._backfill_signal.clear()
            wanted, self._backfill_wanted = self._backfill_wanted, set()
            try:
                await self._backfill(wanted)
            except Exception as error:  # REST or the database away: the whole backfill again, later
                logger.warning("backfill failed, trying again", error=f"{type(error).__name__}: {error}")
                await asyncio.sleep(WRITE_RETRY_SECONDS)
                self._want_backfill(wanted)

    async def _backfill(self, wanted: set[Series]) -> None:
        if not wanted:
            return
        now = (await self.rest.server_time()).time
        limit = asyncio.Semaphore(BACKFILL_CONCURRENCY)

        async def one(series: Series) -> int:
            async with limit:
                return await self._backfill_series(series, now)

        counts = await asyncio.gather(*(one(series) for series in sorted(wanted, key=topic_of)))
        self.counters.backfills += 1
        logger.info("backfilled", series=len(wanted), candles=sum(counts))

    async def _backfill_series(self, series: Series, now: datetime) -> int:
        """Fetch the holes among the series' last ``KLINE_WINDOW`` closed candles at ``now``."""
        last = series.interval.last_closed(now)
        holes = await asyncio.to_thread(self._holes, series, window_start(series.interval, last), last)
        count = 0
        for hole in holes:
            async for kline in self.rest.iter_klines_range(
                series.category,
                series.symbol,
                series.interval.value,
                datetime_to_ms(hole.first_start),
                datetime_to_ms(hole.last_start),
            ):
                self._writer.put(kline_row(series.category, series.symbol, series.interval.value, kline))
                count += 1
        return count

    def _holes(self, series: Series, first: datetime, last: datetime) -> list[Hole]:
        with self.database.sync_session() as session:
            return missing_candles(session, series, first, last)

    def status(self, interval_seconds: float) -> StreamStatus:
        """The status written to Redis; the per-interval maximum lag starts again after each call."""
        state = self.stream.status()
        counters = self.counters
        status = StreamStatus(
            at=datetime.now(UTC),
            interval_seconds=interval_seconds,
            connected=state.connected,
            reconnects=state.reconnects,
            connected_since=_moment(state.connected_since),
            topics={
                topic: StreamTopicStatus(
                    last_message_at=_moment(health.last_message_at), messages=health.messages
                )
                for topic, health in state.topics.items()
            },
            candles_written=counters.candles_written,
            last_commit_at=_moment(counters.last_commit_at),
            lag_ms=counters.lag_ms,
            max_lag_ms=counters.max_lag_ms,
            backfills=counters.backfills,
        )
        counters.max_lag_ms = None
        return status


def _moment(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


def stream_settings(ping_interval: float, silence_timeout: float) -> StreamSettings:
    """The client's timings from ours; the backoff stays the client's (Bybit's limits)."""
    return StreamSettings(ping_interval=ping_interval, silence_timeout=silence_timeout, backoff=Backoff())
