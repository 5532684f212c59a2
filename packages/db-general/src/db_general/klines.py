"""Kline reads (async hot reads, for the API) and the bulk upsert and resume point (sync, for the worker)."""

from collections.abc import Iterable
from datetime import UTC, datetime
from operator import attrgetter
from typing import LiteralString, TypedDict, cast

from sqlalchemy import CursorResult, func, select, text
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.orm import Session

from db_core import ReadConnection, fetch_rows, select_list
from db_general.models import Kline
from db_general.rows import KlineRow
from db_general.staging import load_staging

_COLUMNS = (
    "category",
    "symbol",
    "interval",
    "start_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "turnover",
)
_VALUES_OF = attrgetter(*_COLUMNS)  # dataclasses.astuple deep-copies: far slower
_TYPES = ("text", "text", "text", "timestamptz") + ("numeric",) * 6
_CARDINALITY_VIOLATION = "21000"  # ON CONFLICT DO UPDATE met the same key twice in one statement

# The WHERE clause skips rows whose values did not change: a re-upsert writes nothing.
_MERGE = text(
    """
    INSERT INTO klines AS k (category, symbol, interval, start_time, open, high, low, close, volume, turnover)
    SELECT category, symbol, interval, start_time, open, high, low, close, volume, turnover
    FROM _stage_klines
    ON CONFLICT (category, symbol, interval, start_time) DO UPDATE SET
        open = excluded.open, high = excluded.high, low = excluded.low, close = excluded.close,
        volume = excluded.volume, turnover = excluded.turnover
    WHERE (k.open, k.high, k.low, k.close, k.volume, k.turnover)
          IS DISTINCT FROM
          (excluded.open, excluded.high, excluded.low, excluded.close, excluded.volume, excluded.turnover)
    """
)


def upsert_klines(session: Session, rows: Iterable[KlineRow]) -> int:
    """Insert new candles and update changed ones in one statement; return how many rows were written.

    Idempotent: upserting the same rows again writes nothing and returns 0. When a batch holds the
    same candle twice, the last one wins.
    """
    batch = rows if isinstance(rows, list) else list(rows)
    if not batch:
        return 0
    load_staging(session, target="klines", columns=_COLUMNS, types=_TYPES, rows=map(_VALUES_OF, batch))
    try:
        # Duplicates are rare, so they are looked for only when PostgreSQL trips over them.
        with session.begin_nested():
            return _merge(session)
    except ProgrammingError as exc:
        if getattr(exc.orig, "sqlstate", None) != _CARDINALITY_VIOLATION:
            raise
    unique = {(r.category, r.symbol, r.interval, r.start_time): r for r in batch}
    load_staging(
        session, target="klines", columns=_COLUMNS, types=_TYPES, rows=map(_VALUES_OF, unique.values())
    )
    return _merge(session)


def _merge(session: Session) -> int:
    result = session.execute(_MERGE)
    return int(result.rowcount) if isinstance(result, CursorResult) else 0


def newest_kline_start(session: Session, category: str, symbol: str, interval: str) -> datetime | None:
    """The start of the newest stored candle (where a resumed sync continues), or None."""
    return session.scalar(
        select(func.max(Kline.start_time)).where(
            Kline.category == category, Kline.symbol == symbol, Kline.interval == interval
        )
    )


class KlineListing(TypedDict):
    """A candle as lists show it: prices and volumes as exact decimal text, the start a UTC datetime."""

    start_time: datetime
    open: str
    high: str
    low: str
    close: str
    volume: str
    turnover: str


_LISTING_NAMES = tuple(KlineListing.__annotations__)
# The select list is made from the names (never from input): values can only line up with them.
_LISTING_SELECT = f"""
    SELECT {select_list(Kline.__table__, _LISTING_NAMES)}
    FROM klines
    WHERE category = %(category)s AND symbol = %(symbol)s AND interval = %(interval)s
"""  # noqa: S608
_FIRST_FROM_START: LiteralString = (
    f"{_LISTING_SELECT} AND start_time >= %(start)s AND start_time <= %(end)s"
    " ORDER BY start_time LIMIT %(limit)s"
)
# Without a start, the newest candles up to the end are wanted: read newest first, then reverse.
_NEWEST_UP_TO_END: LiteralString = (
    f"{_LISTING_SELECT} AND start_time <= %(end)s ORDER BY start_time DESC LIMIT %(limit)s"
)
_NO_END = datetime.max.replace(tzinfo=UTC)


async def list_klines(
    connection: ReadConnection,
    *,
    category: str,
    symbol: str,
    interval: str,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int,
) -> list[KlineListing]:
    """Candles oldest first, ``start`` and ``end`` inclusive.

    With ``start``: the first ``limit`` candles from it. Without: the newest ``limit`` candles up to
    ``end`` (or the newest stored), still returned oldest first.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    params = {
        "category": category,
        "symbol": symbol,
        "interval": interval,
        "start": start,
        "end": _NO_END if end is None else end,
        "limit": limit,
    }
    rows = await fetch_rows(connection, _NEWEST_UP_TO_END if start is None else _FIRST_FROM_START, params)
    if start is None:
        rows.reverse()
    return cast(list[KlineListing], [dict(zip(_LISTING_NAMES, row, strict=True)) for row in rows])
