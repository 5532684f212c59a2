"""The two synchronisations, Bybit -> general database, as plain functions (Celery wraps them in ``tasks``).

Each run is recorded in ``sync_runs``: opened (and committed) first so that even a crash leaves a
trace, closed with its outcome, row count and error. Both are safe to run again at any moment:
- instruments: one category is fetched completely before anything is written, so an outage
  halfway never delists what simply was not fetched; nothing is ever deleted.
- klines: written page by page, oldest first, each page committed, so an interrupted run has
  stored a prefix of its range and the next run continues from the newest stored candle.
"""

import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from bybit_client import (
    KLINE_CATEGORIES,
    BybitClient,
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
    finish_sync_run,
    mark_delisted,
    newest_kline_start,
    start_sync_run,
    upsert_instruments,
    upsert_klines,
)

logger = logging.getLogger(__name__)

# Every category Bybit lists instruments for.
ALL_CATEGORIES: tuple[str, ...] = tuple(category.value for category in Category)
# Candles written per transaction: one page of Bybit's range fetch.
KLINE_BATCH = 1000
# A klines sync without a start and with nothing stored fetches this many candles back from now.
KLINE_DEFAULT_LOOKBACK = 1000


class SyncRequestError(ValueError):
    """The sync asked for cannot be done as asked (an unknown category or interval, an empty range)."""


@dataclass(frozen=True)
class SyncContext:
    """What a sync needs from outside: the database, a Bybit client, the clock, the Celery task id."""

    database: Database
    client: BybitClient
    task_id: str | None = None
    now: Callable[[], datetime] = lambda: datetime.now(UTC)


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


@dataclass
class RunTally:
    """The open ``sync_runs`` row of a run and the rows it has written so far."""

    run_id: int
    rows: int = 0


@contextmanager
def recorded_run(database: Database, **what: Any) -> Iterator[RunTally]:
    """Open a ``sync_runs`` row (committed at once), close it with the block's outcome and rows."""
    with database.sync_session() as session:
        tally = RunTally(start_sync_run(session, **what))
    try:
        yield tally
    except BaseException as exc:
        with database.sync_session() as session:
            finish_sync_run(
                session, tally.run_id, status="failed", rows=tally.rows, error=describe_error(exc)
            )
        telemetry().record_sync(str(what.get("kind")), tally.rows, "failed")
        raise
    with database.sync_session() as session:
        finish_sync_run(session, tally.run_id, status="succeeded", rows=tally.rows)
    telemetry().record_sync(str(what.get("kind")), tally.rows, "succeeded")


def sync_instruments(context: SyncContext, category: str | None) -> dict[str, Any]:
    """Upsert every instrument of ``category`` (None: of every category); delist those gone."""
    database = context.database
    totals = {"fetched": 0, "inserted": 0, "updated": 0, "unchanged": 0, "delisted": 0}
    with recorded_run(database, kind="instruments", category=category, task_id=context.task_id) as run:
        if category is not None and category not in ALL_CATEGORIES:
            raise SyncRequestError(f"unknown category {category!r}; one of {', '.join(ALL_CATEGORIES)}")
        categories = [category] if category else list(ALL_CATEGORIES)
        for name in categories:
            rows = [instrument_row(item) for item in context.client.iter_instruments(name)]
            seen_at = context.now()
            with database.sync_session() as session:
                counts = upsert_instruments(session, rows, seen_at)
                # An empty answer is far likelier a glitch than a whole category gone: delist nothing.
                delisted = mark_delisted(session, name, {row.symbol for row in rows}, seen_at) if rows else 0
            if not rows:
                logger.warning("Bybit listed no %s instruments; none delisted", name)
            totals["fetched"] += len(rows)
            totals["inserted"] += counts.inserted
            totals["updated"] += counts.updated
            totals["unchanged"] += counts.unchanged
            totals["delisted"] += delisted
            run.rows += counts.written + delisted
            logger.info(
                "instruments synced",
                extra={
                    "category": name,
                    "fetched": len(rows),
                    "written": counts.written,
                    "delisted": delisted,
                },
            )
    return {"sync_run_id": run.run_id, "kind": "instruments", "categories": categories, **totals}


def _interval(interval: str) -> Interval:
    try:
        return Interval(interval)
    except ValueError:
        raise SyncRequestError(
            f"unknown interval {interval!r}; one of {', '.join(item.value for item in Interval)}"
        ) from None


def _stored_candles(context: SyncContext, key: tuple[str, str, str], start: datetime, end: datetime) -> int:
    from db_general import Kline as StoredKline  # noqa: PLC0415 - the ORM class, only for this count

    category, symbol, interval = key
    with context.database.sync_session() as session:
        count = session.scalar(
            select(func.count()).where(
                StoredKline.category == category,
                StoredKline.symbol == symbol,
                StoredKline.interval == interval,
                StoredKline.start_time.between(start, end),
            )
        )
    return int(count or 0)


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


def _write_klines(database: Database, rows: Iterable[KlineRow]) -> int:
    with database.sync_session() as session:
        return upsert_klines(session, rows)


def sync_klines(
    context: SyncContext,
    category: str,
    symbol: str,
    interval: str,
    start_ms: int | None = None,
    end_ms: int | None = None,
) -> dict[str, Any]:
    """Fetch the candles of [start, end] (ms; end defaults to now) and upsert them, resuming if it can."""
    end_ms = end_ms if end_ms is not None else datetime_to_ms(context.now())
    database = context.database
    what = {
        "kind": "klines",
        "category": category,
        "symbol": symbol,
        "interval": interval,
        "range_start": None if start_ms is None else ms_to_datetime(start_ms),
        "range_end": ms_to_datetime(end_ms),
        "task_id": context.task_id,
    }
    with recorded_run(database, **what) as run:
        if category not in KLINE_CATEGORIES:
            raise SyncRequestError(
                f"no klines for category {category!r}; one of {', '.join(KLINE_CATEGORIES)}"
            )
        interval = _interval(interval).value
        if start_ms is not None and start_ms > end_ms:
            raise SyncRequestError("start_ms is after end_ms")
        begin_ms = resume_point(context, (category, symbol, interval), start_ms, end_ms)
        fetched = 0
        batch: list[KlineRow] = []
        for kline in context.client.iter_klines_range(category, symbol, interval, begin_ms, end_ms):
            batch.append(kline_row(category, symbol, interval, kline))
            if len(batch) >= KLINE_BATCH:
                run.rows += _write_klines(database, batch)
                fetched += len(batch)
                batch = []
        if batch:
            run.rows += _write_klines(database, batch)
            fetched += len(batch)
    return {
        "sync_run_id": run.run_id,
        "kind": "klines",
        "category": category,
        "symbol": symbol,
        "interval": interval,
        "start_ms": start_ms,
        "end_ms": end_ms,
        "resumed_from_ms": begin_ms,
        "fetched": fetched,
        "written": run.rows,
        "unchanged": fetched - run.rows,
    }
