"""The two synchronisations, Bybit -> general database, as plain functions (Celery wraps them in ``tasks``).

Every call does one bounded chunk of work: it stops taking new pages once the context's
``chunk_seconds`` have passed and returns a ``Continuation`` saying how to call it again; the
worker sends that as the task's next message. Without a bound (``chunk_seconds=None``, the inline
path) a call runs to the end. Each sync is one ``sync_runs`` row, opened (and committed) by its
first chunk, continued by the next ones (same task id), closed with its outcome; the rows a chunk
writes are counted in the transaction that writes them. Every chunk is safe to run again:
- instruments: one category is fetched completely before anything is written, so an outage
  halfway never delists what simply was not fetched; nothing is ever deleted.
- klines: written page by page, oldest first, each page committed, so an interrupted chunk has
  stored a prefix of its range and the next chunk continues from the newest stored candle.
"""

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any, Generic, TypeAlias, TypeVar

from bybit_client import (
    KLINE_CATEGORIES,
    BybitError,
    Category,
    Instrument,
    Interval,
    Kline,
    datetime_to_ms,
    ms_to_datetime,
)
from core_telemetry import telemetry
from db_core import Database
from db_general import (
    InstrumentRow,
    KlineRow,
    SyncInstrumentsArgs,
    SyncKlinesArgs,
    add_sync_run_rows,
    count_klines,
    finish_sync_run,
    mark_delisted,
    newest_kline_start,
    note_sync_run_waiting,
    record_attempt_error,
    start_sync_run,
    upsert_instruments,
    upsert_klines,
)

if TYPE_CHECKING:  # the stream process imports this module too, and has no use for the sync transport
    from bybit_client import BybitClient

logger = logging.getLogger(__name__)

# A sync's request: the arguments of its task in the contract.
Request = TypeVar("Request", SyncInstrumentsArgs, SyncKlinesArgs)

# Every category Bybit lists instruments for.
ALL_CATEGORIES: tuple[str, ...] = tuple(category.value for category in Category)
# Candles written per transaction: one page of Bybit's range fetch.
KLINE_BATCH = 1000
# A klines sync without a start and with nothing stored fetches this many candles back from now.
KLINE_DEFAULT_LOOKBACK = 1000


class SyncRequestError(ValueError):
    """The sync asked for cannot be done as asked (an unknown category or interval, an empty range)."""


# What a waiting run's row says while the Bybit call budget holds every call (after a ban, or a
# limit spent for longer than a call may wait).
BUDGET_WAIT = "waiting for Bybit's call budget, which holds every call; retried when it lets calls go"
# What a failed attempt says when its worker died under it (the process killed or its instance lost).
WORKER_LOST = "the worker running this chunk stopped before it ended (killed or lost); run again"


def _never(_: BaseException) -> bool:
    return False


@dataclass(frozen=True)
class SyncContext:
    """What a sync needs from outside: the database, a Bybit client, the clock, the Celery task id.

    ``chunk_seconds`` bounds a call's work (None: run to the end). ``will_retry`` tells whether an
    error will be retried with the same task id, in which case the run's row stays open for it;
    ``waits_for_budget``, whether that retry waits for the Bybit call budget (a ban), which is no
    failed attempt.
    ``worker_deaths``: how many earlier runs of this chunk ended with their worker (killed, lost).
    """

    database: Database
    client: "BybitClient"
    task_id: str | None = None
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    chunk_seconds: float | None = None
    will_retry: Callable[[BaseException], bool] = _never
    waits_for_budget: Callable[[BaseException], bool] = _never
    clock: Callable[[], float] = time.monotonic
    worker_deaths: int = 0

    def deadline(self) -> float | None:
        return None if self.chunk_seconds is None else self.clock() + self.chunk_seconds


@dataclass(frozen=True)
class Continuation(Generic[Request]):
    """The rest of a sync after a chunk: the same request again, with what the chunks so far did."""

    request: Request
    progress: dict[str, Any]

    @property
    def kwargs(self) -> dict[str, Any]:
        """The task's next message: the contract's arguments and the worker's own ``progress``."""
        return {**self.request, "progress": self.progress}


SyncOutcome: TypeAlias = dict[str, Any] | Continuation[Request]


def instrument_row(instrument: Instrument) -> InstrumentRow:
    return InstrumentRow(
        category=instrument.category.value,
        symbol=instrument.symbol,
        status=instrument.status,
        base_coin=instrument.base_coin,
        quote_coin=instrument.quote_coin,
        tick_size=instrument.tick_size,
        qty_step=instrument.qty_step,
        min_order_qty=instrument.min_order_qty,
        max_order_qty=instrument.max_order_qty,
        # Spot states its minimum order value as minOrderAmt, derivatives as minNotionalValue.
        min_notional=instrument.min_notional_value or instrument.min_order_amt,
        launch_time=instrument.launch_time,
        raw=instrument.raw,
    )


def kline_row(category: str, symbol: str, interval: str, kline: Kline) -> KlineRow:
    return KlineRow(
        category=category,
        symbol=symbol,
        interval=interval,
        start_time=kline.start,
        open=kline.open,
        high=kline.high,
        low=kline.low,
        close=kline.close,
        volume=kline.volume,
        turnover=kline.turnover,
    )


def describe_error(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def attempt_words(error: BaseException) -> str:
    """What a failed attempt says on its ``sync_runs`` row, for operators: Bybit's answer and our own
    refusals in full (they name no host and carry no secret); anything else (a database error names
    its server, a statement its parameters) only by its kind, the details being in the log."""
    if isinstance(error, BybitError | SyncRequestError):
        return describe_error(error)
    return f"{type(error).__name__} (details in the worker's log)"


@dataclass
class RunTally:
    """The ``sync_runs`` row of a sync, and whether this chunk finished the sync."""

    run_id: int
    finished: bool = False
    rows: int = 0


@contextmanager
def recorded_chunk(context: SyncContext, **what: Any) -> Iterator[RunTally]:
    """Open (or continue) the sync's ``sync_runs`` row; close it when the chunk ends the sync.

    The row is closed as ``succeeded`` when the block sets ``finished``, as ``failed`` when it
    raises an error that will not be retried; otherwise (the next chunk, a retry, a process being
    stopped, whose task goes back to the queue) it stays ``running`` for the task's next run. Each
    failed attempt (an error, retried or not; the worker of the previous run lost) is counted on
    the row with what it said; a wait for the call budget is not one: the row says it waits.
    """
    with context.database.sync_session() as session:
        tally = RunTally(start_sync_run(session, task_id=context.task_id, **what))
        if context.worker_deaths:
            record_attempt_error(session, tally.run_id, WORKER_LOST)
    try:
        yield tally
    except Exception as exc:  # not SystemExit and the like: a stopped process's task runs again
        retried = context.will_retry(exc)
        if retried and context.waits_for_budget(exc):
            with context.database.sync_session() as session:
                note_sync_run_waiting(session, tally.run_id, f"{BUDGET_WAIT}: {attempt_words(exc)}")
            raise
        with context.database.sync_session() as session:
            said = attempt_words(exc) + (" (retried)" if retried else "")
            record_attempt_error(session, tally.run_id, said)
            if not retried:
                finish_sync_run(session, tally.run_id, status="failed", error=describe_error(exc))
        if not retried:
            telemetry().record_sync(str(what.get("kind")), tally.rows, "failed")
        raise
    if tally.finished:
        with context.database.sync_session() as session:
            tally.rows = finish_sync_run(session, tally.run_id, status="succeeded")
        telemetry().record_sync(str(what.get("kind")), tally.rows, "succeeded")


def instruments_chunk(
    context: SyncContext, request: SyncInstrumentsArgs, progress: dict[str, Any] | None = None
) -> SyncOutcome[SyncInstrumentsArgs]:
    """Upsert every instrument of the category asked (None: of every category); delist those gone.

    A chunk syncs whole categories; ``progress`` carries the categories done and the totals so far.
    """
    category = request["category"]
    database = context.database
    deadline = context.deadline()
    done: list[str] = list((progress or {}).get("done", []))
    totals = {"fetched": 0, "inserted": 0, "updated": 0, "unchanged": 0, "delisted": 0}
    totals.update((progress or {}).get("totals", {}))
    with recorded_chunk(context, kind="instruments", category=category) as run:
        if category is not None and category not in ALL_CATEGORIES:
            raise SyncRequestError(f"unknown category {category!r}; one of {', '.join(ALL_CATEGORIES)}")
        categories = [category] if category else list(ALL_CATEGORIES)
        synced_here = 0
        for name in categories:
            if name in done:
                continue
            if deadline is not None and synced_here and context.clock() >= deadline:
                return Continuation(request, {"done": done, "totals": totals})
            synced_here += 1
            rows = [instrument_row(item) for item in context.client.iter_instruments(name)]
            seen_at = context.now()
            with database.sync_session() as session:
                counts = upsert_instruments(session, rows, seen_at)
                # An empty answer is far likelier a glitch than a whole category gone: delist nothing.
                delisted = mark_delisted(session, name, {row.symbol for row in rows}, seen_at) if rows else 0
                add_sync_run_rows(session, run.run_id, counts.written + delisted)
            if not rows:
                logger.warning("Bybit listed no %s instruments; none delisted", name)
            done.append(name)
            totals["fetched"] += len(rows)
            totals["inserted"] += counts.inserted
            totals["updated"] += counts.updated
            totals["unchanged"] += counts.unchanged
            totals["delisted"] += delisted
            logger.info(
                "instruments synced",
                extra={
                    "category": name,
                    "fetched": len(rows),
                    "written": counts.written,
                    "delisted": delisted,
                },
            )
        run.finished = True
    return {"sync_run_id": run.run_id, "kind": "instruments", "categories": categories, **totals}


def _interval(interval: str) -> Interval:
    try:
        return Interval(interval)
    except ValueError:
        raise SyncRequestError(
            f"unknown interval {interval!r}; one of {', '.join(item.value for item in Interval)}"
        ) from None


def _stored_candles(context: SyncContext, key: tuple[str, str, str], start: datetime, end: datetime) -> int:
    with context.database.sync_session() as session:
        return count_klines(session, *key, start, end)


def resume_point(context: SyncContext, key: tuple[str, str, str], start_ms: int | None, end_ms: int) -> int:
    """Where a klines sync begins (ms).

    Without a start: from the newest stored candle (it may still have been open), or a default
    look-back. With a start: from the newest stored candle when every candle between the start
    and it is stored (a previous run of this range was interrupted), else from the start.
    """
    category, symbol, interval = key
    with context.database.sync_session() as session:
        newest = newest_kline_start(session, category, symbol, interval)
    length = Interval(interval).milliseconds
    if start_ms is None:
        if newest is not None:
            return datetime_to_ms(newest)
        return end_ms - KLINE_DEFAULT_LOOKBACK * (length or 31 * 86_400_000)
    if newest is None or length is None or not start_ms <= datetime_to_ms(newest) <= end_ms:
        return start_ms
    first = -(-start_ms // length) * length  # the first candle opening at or after the start
    expected = (datetime_to_ms(newest) - first) // length + 1
    stored = _stored_candles(context, key, ms_to_datetime(first), newest)
    return datetime_to_ms(newest) if stored >= expected else start_ms


def _write_klines(database: Database, rows: Iterable[KlineRow], run_id: int) -> int:
    with database.sync_session() as session:
        written = upsert_klines(session, rows)
        add_sync_run_rows(session, run_id, written)
    return written


def klines_chunk(
    context: SyncContext, request: SyncKlinesArgs, progress: dict[str, Any] | None = None
) -> SyncOutcome[SyncKlinesArgs]:
    """Fetch the candles of [start, end] (ms; end defaults to now) and upsert them, resuming if it can.

    A chunk stops after the page that crosses its deadline; the next one resumes from what is
    stored (``progress`` only carries counters for the summary).
    """
    category, symbol, interval = request["category"], request["symbol"], request["interval"]
    start_ms, end_ms = request.get("start_ms"), request.get("end_ms")
    end_ms = end_ms if end_ms is not None else datetime_to_ms(context.now())
    database = context.database
    deadline = context.deadline()
    fetched = int((progress or {}).get("fetched", 0))
    chunks = int((progress or {}).get("chunks", 0)) + 1
    what = {
        "kind": "klines",
        "category": category,
        "symbol": symbol,
        "interval": interval,
        "range_start": None if start_ms is None else ms_to_datetime(start_ms),
        "range_end": ms_to_datetime(end_ms),
    }
    with recorded_chunk(context, **what) as run:
        if category not in KLINE_CATEGORIES:
            raise SyncRequestError(
                f"no klines for category {category!r}; one of {', '.join(KLINE_CATEGORIES)}"
            )
        interval = _interval(interval).value
        if start_ms is not None and start_ms > end_ms:
            raise SyncRequestError("start_ms is after end_ms")
        begin_ms = resume_point(context, (category, symbol, interval), start_ms, end_ms)
        batch: list[KlineRow] = []
        for kline in context.client.iter_klines_range(category, symbol, interval, begin_ms, end_ms):
            batch.append(kline_row(category, symbol, interval, kline))
            if len(batch) >= KLINE_BATCH:
                _write_klines(database, batch, run.run_id)
                fetched += len(batch)
                batch = []
                if deadline is not None and context.clock() >= deadline:
                    return Continuation(request | {"end_ms": end_ms}, {"fetched": fetched, "chunks": chunks})
        if batch:
            _write_klines(database, batch, run.run_id)
            fetched += len(batch)
        run.finished = True
    return {
        "sync_run_id": run.run_id,
        "kind": "klines",
        "category": category,
        "symbol": symbol,
        "interval": interval,
        "start_ms": start_ms,
        "end_ms": end_ms,
        "resumed_from_ms": begin_ms,
        "chunks": chunks,
        "fetched": fetched,
        "written": run.rows,
        "unchanged": max(0, fetched - run.rows),
    }


def _to_end(
    chunk: Callable[[Request, dict[str, Any] | None], SyncOutcome[Request]], request: Request
) -> dict[str, Any]:
    outcome = chunk(request, None)
    while isinstance(outcome, Continuation):
        outcome = chunk(outcome.request, outcome.progress)
    return outcome


def sync_instruments(context: SyncContext, request: SyncInstrumentsArgs) -> dict[str, Any]:
    """The whole instruments sync in this process, chunk after chunk; its summary."""
    return _to_end(partial(instruments_chunk, context), request)


def sync_klines(context: SyncContext, request: SyncKlinesArgs) -> dict[str, Any]:
    """The whole klines sync in this process, chunk after chunk; its summary."""
    end_ms = request.get("end_ms")
    end_ms = end_ms if end_ms is not None else datetime_to_ms(context.now())
    return _to_end(partial(klines_chunk, context), request | {"end_ms": end_ms})
