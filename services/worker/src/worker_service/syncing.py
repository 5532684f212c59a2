"""The two synchronisations, Bybit -> general database, as plain functions (``tasks`` runs them in
Celery; ``sync_to_end`` runs one in this process).

A sync is declared once as a ``SyncKind``: what its ``sync_runs`` row covers and its chunk, the
work. Every chunk call does one bounded piece of work: it stops taking new pages once the
context's ``chunk_seconds`` have passed and returns a ``Continuation`` saying how to call it again;
the worker sends that as the task's next message. Without a bound (``chunk_seconds=None``) a call
runs to the end. A chunk only does its work and raises what went wrong: whether that is retried,
waited out or the end of the sync is the caller's decision (``tasks.decide``), and so is the
row's record of it. Every chunk is safe to run again:
- instruments: one category is fetched completely before anything is written, so an outage
  halfway never delists what simply was not fetched; nothing is ever deleted.
- klines: only the candles missing from the series in the sync's range are fetched (its holes,
  found from what is stored: ``db_general.missing_candles``), oldest first, each page committed,
  so an interrupted chunk leaves fewer holes and the next one fetches what is still missing. Only
  closed candles are written. Without a range the sync covers the last ``KLINE_WINDOW`` closed
  candles (the safety net behind the live stream: a hole anywhere in it is filled) and leaves out
  the candles the exchange is recorded to have none of; a range asks for those again. What the
  exchange did not return for a fetched hole is recorded as its own gap once it is old enough.
"""

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, TypeAlias, TypeVar

from bybit_client import (
    KLINE_CATEGORIES,
    Category,
    Instrument,
    Interval,
    Kline,
    datetime_to_ms,
    ms_to_datetime,
)
from core_config import get_logger
from db_core import Database
from db_general import (
    Hole,
    InstrumentRow,
    KlineRow,
    Series,
    SyncRunScope,
    add_sync_run_rows,
    finish_sync_run,
    mark_delisted,
    missing_candles,
    record_attempt_error,
    record_exchange_gaps,
    start_sync_run,
    upsert_instruments,
    upsert_klines,
)
from worker_contract import SyncInstrumentsArgs, SyncKlinesArgs
from worker_service.sync_metrics import record_sync

if TYPE_CHECKING:  # the stream process imports this module too, and has no use for the sync transport
    from bybit_client import BybitClient

logger = get_logger(__name__)

# A sync's request: the arguments of its task in the contract.
Request = TypeVar("Request", SyncInstrumentsArgs, SyncKlinesArgs)

# Every category Bybit lists instruments for.
ALL_CATEGORIES: tuple[str, ...] = tuple(category.value for category in Category)
# Candles written per transaction: one page of Bybit's range fetch.
KLINE_BATCH = 1000
# The candles a klines sync without a range covers, back from the last closed one: one page.
KLINE_WINDOW = 1000
# A candle missing after its hole was fetched is the exchange's own gap once it closed this long
# ago (a candle that closed a moment ago may not be served yet).
GAP_SETTLED_AFTER = timedelta(minutes=10)


class SyncRequestError(ValueError):
    """The sync asked for cannot be done as asked (an unknown category or interval, an empty range)."""


@dataclass(frozen=True)
class SyncContext:
    """What a sync needs from outside: the database, a Bybit client, the clock, the Celery task id.

    ``chunk_seconds`` bounds a call's work (None: run to the end).
    """

    database: Database
    client: "BybitClient"
    task_id: str | None = None
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    chunk_seconds: float | None = None
    clock: Callable[[], float] = time.monotonic

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
# A chunk: the context, its sync's row, the request, the progress of the chunks before it.
Chunk: TypeAlias = Callable[[SyncContext, int, Request, dict[str, Any] | None], SyncOutcome[Request]]


@dataclass(frozen=True)
class SyncKind(Generic[Request]):
    """One kind of sync: its ``sync_runs`` kind, what its row covers, its chunk of work."""

    kind: str
    describe: Callable[[Request], str]
    scope: Callable[[Request, datetime], SyncRunScope]
    chunk: Chunk[Request]


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


def instruments_chunk(
    context: SyncContext, run_id: int, request: SyncInstrumentsArgs, progress: dict[str, Any] | None = None
) -> SyncOutcome[SyncInstrumentsArgs]:
    """Upsert every instrument of the category asked (None: of every category); delist those gone.

    A chunk syncs whole categories; ``progress`` carries the categories done and the totals so far.
    """
    category = request["category"]
    if category is not None and category not in ALL_CATEGORIES:
        raise SyncRequestError(f"unknown category {category!r}; one of {', '.join(ALL_CATEGORIES)}")
    database = context.database
    deadline = context.deadline()
    done: list[str] = list((progress or {}).get("done", []))
    totals = {"fetched": 0, "inserted": 0, "updated": 0, "unchanged": 0, "delisted": 0}
    totals.update((progress or {}).get("totals", {}))
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
            add_sync_run_rows(session, run_id, counts.written + delisted)
        if not rows:
            logger.warning("Bybit listed no instruments; none delisted", category=name)
        done.append(name)
        totals["fetched"] += len(rows)
        totals["inserted"] += counts.inserted
        totals["updated"] += counts.updated
        totals["unchanged"] += counts.unchanged
        totals["delisted"] += delisted
        logger.info(
            "instruments synced", category=name, fetched=len(rows), written=counts.written, delisted=delisted
        )
    return {"kind": "instruments", "categories": categories, **totals}


def _interval(interval: str) -> Interval:
    try:
        return Interval(interval)
    except ValueError:
        raise SyncRequestError(
            f"unknown interval {interval!r}; one of {', '.join(item.value for item in Interval)}"
        ) from None


def window_start(interval: Interval, last: datetime, candles: int = KLINE_WINDOW) -> datetime:
    """The start of the oldest of the ``candles`` candles ending with the one opening at ``last``."""
    if interval.milliseconds is None:
        first = last
        for _ in range(candles - 1):
            first = interval.before(first)
        return first
    return last - (candles - 1) * timedelta(milliseconds=interval.milliseconds)


@dataclass(frozen=True)
class KlineRange:
    """The candle starts a klines sync covers (both included), and whether recorded exchange gaps
    are asked for again (a range given explicitly)."""

    series: Series
    first: datetime
    last: datetime
    ask_recorded: bool


def kline_range(request: SyncKlinesArgs, now: datetime) -> KlineRange:
    """What a klines request covers at ``now``: the closed candles starting in [start_ms, end_ms]
    (end_ms defaults to now), or the last ``KLINE_WINDOW`` closed ones without a start."""
    category = request["category"]
    if category not in KLINE_CATEGORIES:
        raise SyncRequestError(f"no klines for category {category!r}; one of {', '.join(KLINE_CATEGORIES)}")
    interval = _interval(request["interval"])
    start_ms, end_ms = request.get("start_ms"), request.get("end_ms")
    if start_ms is not None and end_ms is not None and start_ms > end_ms:
        raise SyncRequestError("start_ms is after end_ms")
    end = now if end_ms is None else min(ms_to_datetime(end_ms), now)
    last = interval.floor(end)
    if interval.after(last) > now:  # still open: only closed candles are written
        last = interval.before(last)
    series = Series(category, request["symbol"], interval)
    if start_ms is None:
        return KlineRange(series, window_start(interval, last), last, ask_recorded=False)
    return KlineRange(series, interval.ceil(ms_to_datetime(start_ms)), last, ask_recorded=True)


def _write_klines(database: Database, rows: Iterable[KlineRow], run_id: int) -> int:
    with database.sync_session() as session:
        written = upsert_klines(session, rows)
        add_sync_run_rows(session, run_id, written)
    return written


def _record_exchange_gaps(context: SyncContext, series: Series, hole: Hole) -> int:
    """Record what is still missing of ``hole`` after its fetch, where settled, as the exchange's gap."""
    now = context.now()
    settled = hole.last_start
    while settled >= hole.first_start and series.interval.after(settled) + GAP_SETTLED_AFTER > now:
        settled = series.interval.before(settled)
    if settled < hole.first_start:
        return 0
    with context.database.sync_session() as session:
        left = missing_candles(session, series, hole.first_start, settled, skip_recorded=False)
        record_exchange_gaps(session, series, left, now)
    if left:
        logger.info(
            "candles the exchange has none of recorded",
            series=f"{series.category} {series.symbol} {series.interval}",
            candles=sum(gap.candles for gap in left),
        )
    return sum(gap.candles for gap in left)


def klines_chunk(
    context: SyncContext, run_id: int, request: SyncKlinesArgs, progress: dict[str, Any] | None = None
) -> SyncOutcome[SyncKlinesArgs]:
    """Fetch the candles missing from the range asked (see ``kline_range``) and upsert them.

    A chunk stops after the page that crosses its deadline; the next one finds what is still
    missing (``progress`` only carries counters for the summary, and the end fixed by the first).
    """
    end_ms = request.get("end_ms")
    end_ms = end_ms if end_ms is not None else datetime_to_ms(context.now())
    wanted = kline_range(request | {"end_ms": end_ms}, context.now())
    series = wanted.series
    category, symbol, interval = series.category, series.symbol, series.interval.value
    deadline = context.deadline()
    fetched = int((progress or {}).get("fetched", 0))
    gaps = int((progress or {}).get("exchange_gaps", 0))
    chunks = int((progress or {}).get("chunks", 0)) + 1
    with context.database.sync_session() as session:
        holes = missing_candles(
            session, series, wanted.first, wanted.last, skip_recorded=not wanted.ask_recorded
        )
    for hole in holes:
        batch: list[KlineRow] = []
        pages = context.client.iter_klines_range(
            category, symbol, interval, datetime_to_ms(hole.first_start), datetime_to_ms(hole.last_start)
        )
        for kline in pages:
            batch.append(kline_row(category, symbol, interval, kline))
            if len(batch) >= KLINE_BATCH:
                _write_klines(context.database, batch, run_id)
                fetched += len(batch)
                batch = []
                if deadline is not None and context.clock() >= deadline:
                    progress = {"fetched": fetched, "exchange_gaps": gaps, "chunks": chunks}
                    return Continuation(request | {"end_ms": end_ms}, progress)
        if batch:
            _write_klines(context.database, batch, run_id)
            fetched += len(batch)
        gaps += _record_exchange_gaps(context, series, hole)
    return {
        "kind": "klines",
        "category": category,
        "symbol": symbol,
        "interval": interval,
        "start_ms": request.get("start_ms"),
        "end_ms": end_ms,
        "first_ms": datetime_to_ms(wanted.first),
        "last_ms": datetime_to_ms(wanted.last),
        "holes": len(holes),
        "chunks": chunks,
        "fetched": fetched,
        "exchange_gaps": gaps,
    }


def _instruments_scope(request: SyncInstrumentsArgs, _: datetime) -> SyncRunScope:
    return SyncRunScope(category=request["category"])


def _klines_scope(request: SyncKlinesArgs, now: datetime) -> SyncRunScope:
    start_ms, end_ms = request.get("start_ms"), request.get("end_ms")
    return SyncRunScope(
        category=request["category"],
        symbol=request["symbol"],
        interval=request["interval"],
        range_start=None if start_ms is None else ms_to_datetime(start_ms),
        range_end=now if end_ms is None else ms_to_datetime(end_ms),
    )


INSTRUMENTS = SyncKind[SyncInstrumentsArgs](
    kind="instruments",
    describe=lambda request: f"instruments {request['category'] or 'all'}",
    scope=_instruments_scope,
    chunk=instruments_chunk,
)
KLINES = SyncKind[SyncKlinesArgs](
    kind="klines",
    describe=lambda request: "klines {category} {symbol} {interval}".format(**request),
    scope=_klines_scope,
    chunk=klines_chunk,
)


# -- a sync's row: opened by its first chunk, continued by the next ones, closed once ---------------


def open_run(context: SyncContext, sync: SyncKind[Request], request: Request) -> int | None:
    """Open (or continue) the sync's ``sync_runs`` row; None when the sync has ended already."""
    with context.database.sync_session() as session:
        return start_sync_run(
            session, kind=sync.kind, task_id=context.task_id, **sync.scope(request, context.now())
        )


def close_run(
    database: Database, sync: SyncKind[Any], run_id: int, outcome: dict[str, Any]
) -> dict[str, Any]:
    """Close the row as succeeded; the outcome with the run's id and the rows it wrote in all."""
    with database.sync_session() as session:
        rows = finish_sync_run(session, run_id, status="succeeded")
    record_sync(sync.kind, rows, "succeeded")
    return {"sync_run_id": run_id, **outcome, "written": rows}


def fail_run(database: Database, sync: SyncKind[Any], run_id: int, words: str, error: BaseException) -> None:
    """Count the failed attempt, then close the row as failed with the error."""
    with database.sync_session() as session:
        record_attempt_error(session, run_id, words)
        rows = finish_sync_run(session, run_id, status="failed", error=describe_error(error))
    record_sync(sync.kind, rows, "failed")


def sync_to_end(context: SyncContext, sync: SyncKind[Request], request: Request) -> dict[str, Any]:
    """The whole sync in this process, chunk after chunk, with its row; its summary. An error ends
    it as failed (nothing is retried here)."""
    run_id = open_run(context, sync, request)
    if run_id is None:
        raise SyncRequestError(f"{sync.describe(request)}: the sync of task {context.task_id} has ended")
    progress: dict[str, Any] | None = None
    try:
        outcome = sync.chunk(context, run_id, request, progress)
        while isinstance(outcome, Continuation):
            outcome = sync.chunk(context, run_id, outcome.request, outcome.progress)
    except Exception as exc:
        fail_run(context.database, sync, run_id, describe_error(exc), exc)
        raise
    return close_run(context.database, sync, run_id, outcome)
