"""The missing candles of a stored series, found from the primary key; and the ones the exchange
has none of, recorded so they are not asked for again and again.

One query serves every caller (the stream's backfill after each connect and each jump, the
worker's klines syncs, operators): the stored starts of the series in the range are read in
primary-key order, each beside the next (``lead``), and wherever two differ by more than one
candle the candles between are missing; the range's own edges count as stored neighbours. Month
candles step by a calendar month, weeks open on Mondays (``Interval.floor``).

A hole the exchange itself cannot fill (a halted market, the time before a listing) is a
``KlineGap``: a sync that fetched a range and still finds candles missing records them, and later
automatic syncs leave them out (``skip_recorded``); an operator's range sync asks again.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Connection, and_, cast, func, literal, select
from sqlalchemy.dialects.postgresql import INTERVAL, insert
from sqlalchemy.orm import Session

from bybit_client.enums import Interval
from db_general.models import Kline, KlineGap, SyncRun

_KLINES = Kline.__table__
_GAPS = KlineGap.__table__
# A range longer than this many candles is counted in buckets of as many first (``_short_buckets``).
BUCKET_CANDLES = 1024


@dataclass(frozen=True, slots=True)
class Hole:
    """Candles missing from a series: those opening from ``first_start`` to ``last_start``."""

    first_start: datetime
    last_start: datetime
    candles: int


@dataclass(frozen=True, slots=True)
class Series:
    category: str
    symbol: str
    interval: Interval


def _step(interval: Interval) -> ColumnElement[timedelta]:
    """One candle's length as a PostgreSQL interval (a calendar month for month candles)."""
    text = "1 month" if interval is Interval.MONTH else f"{interval.milliseconds} milliseconds"
    return cast(literal(text), INTERVAL)


def _of(series: Series) -> ColumnElement[bool]:
    return and_(
        _KLINES.c.category == series.category,
        _KLINES.c.symbol == series.symbol,
        _KLINES.c.interval == series.interval.value,
    )


def missing_candles(
    connection: Connection | Session,
    series: Series,
    first: datetime,
    last: datetime,
    *,
    skip_recorded: bool = True,
) -> list[Hole]:
    """The holes of ``series`` among the candles opening from ``first`` to ``last`` (candle starts,
    both included), oldest first; without ``skip_recorded``, the recorded ``KlineGap`` ones too.

    A long range is first counted in buckets of ``BUCKET_CANDLES`` (one pass over the key, as a
    plain count does); only the buckets short of candles are then read candle by candle.
    """
    if last < first:
        return []
    interval = series.interval
    ranges: list[tuple[datetime, datetime]] = []
    for start, end in _short_buckets(connection, series, first, last):
        ranges.extend(_holes_between(connection, series, start, end))
    if skip_recorded:
        ranges = _without(interval, ranges, recorded_gaps(connection, series, first, last))
    return [Hole(start, end, interval.candles(start, end)) for start, end in ranges]


def _short_buckets(
    connection: Connection | Session, series: Series, first: datetime, last: datetime
) -> list[tuple[datetime, datetime]]:
    """The parts of [first, last] that may hold a hole: the whole range when it is short (or of
    month candles, which have no fixed length), else the runs of buckets holding fewer candles
    than they should, merged."""
    interval = series.interval
    if interval.milliseconds is None or interval.candles(first, last) <= BUCKET_CANDLES:
        return [(first, last)]
    width = timedelta(milliseconds=interval.milliseconds * BUCKET_CANDLES)
    bucket = func.date_bin(cast(literal(width), INTERVAL), _KLINES.c.start_time, first)
    rows = connection.execute(
        select(bucket, func.count())
        .where(_of(series), _KLINES.c.start_time.between(first, last))
        .group_by(bucket)
    )
    counts: dict[datetime, int] = {row[0]: row[1] for row in rows}
    short: list[tuple[datetime, datetime]] = []
    start = first
    while start <= last:
        end = min(start + width - timedelta(milliseconds=interval.milliseconds), last)
        if counts.get(start, 0) < interval.candles(start, end):
            if short and short[-1][1] == interval.before(start):
                short[-1] = (short[-1][0], end)
            else:
                short.append((start, end))
        start += width
    return short


def _holes_between(
    connection: Connection | Session, series: Series, first: datetime, last: datetime
) -> list[tuple[datetime, datetime]]:
    """The missing candles of [first, last], read candle by candle: between two stored neighbours,
    and at the range's edges."""
    interval = series.interval
    in_range = and_(_of(series), _KLINES.c.start_time.between(first, last))
    stored = select(
        _KLINES.c.start_time.label("start"),
        func.lead(_KLINES.c.start_time).over(order_by=_KLINES.c.start_time).label("next"),
    ).where(in_range)
    pairs = stored.subquery()
    # Between two stored neighbours; the last stored one's "next" is NULL (the range's end, below).
    inner = select(pairs.c.start, pairs.c.next).where(pairs.c.next > pairs.c.start + _step(interval))
    edges = select(func.min(_KLINES.c.start_time), func.max(_KLINES.c.start_time)).where(in_range)
    oldest, newest = connection.execute(edges).one()
    if oldest is None or newest is None:
        return [(first, last)]
    ranges = [(first, interval.before(oldest))] if oldest > first else []
    ranges.extend(
        (interval.after(start), interval.before(following)) for start, following in connection.execute(inner)
    )
    if newest < last:
        ranges.append((interval.after(newest), last))
    return ranges


def recorded_gaps(
    connection: Connection | Session, series: Series, first: datetime, last: datetime
) -> list[tuple[datetime, datetime]]:
    """The recorded ``KlineGap`` ranges of ``series`` that overlap [first, last], oldest first."""
    query = (
        select(_GAPS.c.first_start, _GAPS.c.last_start)
        .where(
            _GAPS.c.category == series.category,
            _GAPS.c.symbol == series.symbol,
            _GAPS.c.interval == series.interval.value,
            _GAPS.c.first_start <= last,
            _GAPS.c.last_start >= first,
        )
        .order_by(_GAPS.c.first_start)
    )
    return [(start, end) for start, end in connection.execute(query)]


def _without(
    interval: Interval,
    ranges: Sequence[tuple[datetime, datetime]],
    removed: Sequence[tuple[datetime, datetime]],
) -> list[tuple[datetime, datetime]]:
    """``ranges`` minus the candles ``removed`` covers (both of candle starts, inclusive)."""
    left: list[tuple[datetime, datetime]] = []
    for start, end in ranges:
        pieces = [(start, end)]
        for gap_start, gap_end in removed:
            cut: list[tuple[datetime, datetime]] = []
            for piece_start, piece_end in pieces:
                if gap_end < piece_start or gap_start > piece_end:
                    cut.append((piece_start, piece_end))
                    continue
                if piece_start < gap_start:
                    cut.append((piece_start, interval.before(gap_start)))
                if gap_end < piece_end:
                    cut.append((interval.after(gap_end), piece_end))
            pieces = cut
        left.extend(pieces)
    return left


def record_exchange_gaps(session: Session, series: Series, holes: Sequence[Hole], at: datetime) -> int:
    """Record ``holes`` as candles the exchange has none of (again: the range kept, its time moved)."""
    if not holes:
        return 0
    rows = [
        {
            "category": series.category,
            "symbol": series.symbol,
            "interval": series.interval.value,
            "first_start": hole.first_start,
            "last_start": hole.last_start,
            "recorded_at": at,
        }
        for hole in holes
    ]
    statement = insert(KlineGap).values(rows)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[_GAPS.c.category, _GAPS.c.symbol, _GAPS.c.interval, _GAPS.c.first_start],
            set_={
                "last_start": func.greatest(_GAPS.c.last_start, statement.excluded.last_start),
                "recorded_at": at,
            },
        )
    )
    return len(rows)


@dataclass(frozen=True, slots=True)
class Repair:
    """A klines sync of the series running now: its task, its range, the rows it wrote so far."""

    task_id: str | None
    range_start: datetime | None
    range_end: datetime | None
    rows: int
    started_at: datetime


@dataclass(frozen=True, slots=True)
class SeriesHoles:
    """What an operator sees of a series over a range: its holes still to fetch, those the exchange
    has none of (recorded), and the klines syncs of the series running now."""

    holes: list[Hole]
    exchange_gaps: list[Hole]
    repairs: list[Repair]


def series_holes(
    connection: Connection | Session, series: Series, first: datetime, last: datetime
) -> SeriesHoles:
    """The holes of ``series`` in [first, last] split into those to fetch and the exchange's own,
    and its running klines syncs (any range: a sync of the whole window repairs this one too)."""
    every = missing_candles(connection, series, first, last, skip_recorded=False)
    to_fetch = missing_candles(connection, series, first, last)
    fetching = {(hole.first_start, hole.last_start) for hole in to_fetch}
    gaps = _without(
        series.interval,
        [(hole.first_start, hole.last_start) for hole in every],
        sorted(fetching),
    )
    running = connection.execute(
        select(SyncRun.task_id, SyncRun.range_start, SyncRun.range_end, SyncRun.rows, SyncRun.started_at)
        .where(
            SyncRun.kind == "klines",
            SyncRun.status == "running",
            SyncRun.category == series.category,
            SyncRun.symbol == series.symbol,
            SyncRun.interval == series.interval.value,
        )
        .order_by(SyncRun.started_at)
    )
    return SeriesHoles(
        holes=to_fetch,
        exchange_gaps=[Hole(start, end, series.interval.candles(start, end)) for start, end in gaps],
        repairs=[Repair(*row) for row in running],
    )
