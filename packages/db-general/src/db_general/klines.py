"""Kline reads (async hot reads, for the API) and the bulk upsert and resume point (sync, for the worker)."""

from collections.abc import Iterable
from dataclasses import fields
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any, LiteralString

from sqlalchemy import Column, CursorResult, TextClause, func, select, text
from sqlalchemy.orm import Session

from db_core import ReadConnection, fetch_rows, select_list
from db_general.models import GeneralBase, Kline
from db_general.rows import KlineRow
from db_general.staging import column_list, copy_types, load_staging

# The fields of ``KlineRow`` (a test holds them to the table's columns), the key and the values.
_COLUMNS = tuple(field.name for field in fields(KlineRow))
_VALUES_OF = attrgetter(*_COLUMNS)
_TABLE = GeneralBase.metadata.tables[Kline.__tablename__]
_TYPES = copy_types(_TABLE, _COLUMNS)
_KEY = tuple(column.name for column in _TABLE.primary_key)
_KEY_OF = attrgetter(*_KEY)
_VALUES = tuple(name for name in _COLUMNS if name not in _KEY)

# The key is the series (category, symbol, interval) and the candle's start.
_SERIES = _KEY[:-1]
_SAME_KEY = " AND ".join(f"stored.{name} = s.{name}" for name in _KEY)
_DIFFERS = f"({column_list(_VALUES, 'stored.')}) IS DISTINCT FROM ({column_list(_VALUES, 's.')})"

# Every writer of a series holds its lock until its transaction ends (taken in one order, so two
# writers of several series cannot deadlock): new candles then go in with a plain INSERT, with no
# other writer's insert of the same candle to race, instead of ON CONFLICT's speculative insertion,
# which costs about twice as much per row. Column names come from the table and the row class.
_LOCK_SERIES = text(
    f"""
    SELECT pg_advisory_xact_lock(hashtext('klines'), hashtext(concat_ws('/', {column_list(_SERIES)})))
    FROM (SELECT DISTINCT {column_list(_SERIES)} FROM _stage_klines ORDER BY {column_list(_SERIES)}) AS series
    """  # noqa: S608
)
# One pass over the stored candles tells what the batch holds: how many are new, how many changed
# (the rest are stored unchanged and left alone), so an unchanged re-upsert reads each row once.
_CLASSIFY = text(
    f"""
    SELECT count(*) FILTER (WHERE stored.{_KEY[0]} IS NULL),
           count(*) FILTER (WHERE stored.{_KEY[0]} IS NOT NULL AND {_DIFFERS})
    FROM _stage_klines AS s LEFT JOIN klines AS stored ON {_SAME_KEY}
    """  # noqa: S608
)
_UPDATE_CHANGED = text(
    f"""
    UPDATE klines AS stored SET {", ".join(f"{name} = s.{name}" for name in _VALUES)}
    FROM _stage_klines AS s
    WHERE {_SAME_KEY} AND {_DIFFERS}
    """  # noqa: S608
)
# The stored candles leave the staging table before the INSERT, so that the INSERT does not read
# the table it writes: an anti-join against klines planned while klines looks empty (a first
# backfill) is a nested loop over a table that grows under it, quadratic in the batch.
_DROP_STORED = text(
    f"""
    DELETE FROM _stage_klines AS s USING klines AS stored WHERE {_SAME_KEY}
    """  # noqa: S608
)
_INSERT_NEW = text(
    f"""
    INSERT INTO klines ({column_list(_COLUMNS)}) SELECT {column_list(_COLUMNS)} FROM _stage_klines
    """  # noqa: S608
)


def _rowcount(session: Session, statement: TextClause) -> int:
    result = session.execute(statement)
    return int(result.rowcount) if isinstance(result, CursorResult) else 0


def upsert_klines(session: Session, rows: Iterable[KlineRow]) -> int:
    """Insert new candles and update changed ones; return how many rows were written.

    Idempotent: upsert the same rows again and nothing is written, 0 returned. When a batch holds the
    same candle twice, the last one wins. The series written stay locked for other writers until the
    caller's transaction ends.
    """
    # One row per key: a plain INSERT of the same new candle twice would violate the primary key.
    unique = {_KEY_OF(row): row for row in rows}
    if not unique:
        return 0
    load_staging(
        session, target="klines", columns=_COLUMNS, types=_TYPES, rows=map(_VALUES_OF, unique.values())
    )
    session.execute(_LOCK_SERIES)
    new, changed = session.execute(_CLASSIFY).one()
    written = _rowcount(session, _UPDATE_CHANGED) if changed else 0
    if new:
        if new < len(unique):
            session.execute(_DROP_STORED)
        written += _rowcount(session, _INSERT_NEW)
    return written


def newest_kline_start(session: Session, category: str, symbol: str, interval: str) -> datetime | None:
    """The start of the newest stored candle (where a resumed sync continues), or None."""
    return session.scalar(
        select(func.max(Kline.start_time)).where(
            Kline.category == category, Kline.symbol == symbol, Kline.interval == interval
        )
    )


# A candle as lists show it: its start and values; the series (category, symbol, interval) is the
# caller's. Keys are column names; prices and volumes are exact decimal text, the start a UTC datetime.
LISTED_KLINE_COLUMNS: tuple[Column[Any], ...] = tuple(
    column for column in _TABLE.c if column.name not in ("category", "symbol", "interval")
)
_LISTED = tuple(column.name for column in LISTED_KLINE_COLUMNS)
_LISTING_SELECT = f"""
    SELECT {select_list(LISTED_KLINE_COLUMNS)}
    FROM klines
    WHERE category = %(category)s AND symbol = %(symbol)s AND interval = %(interval)s
"""  # noqa: S608 (names from the table)
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
) -> list[dict[str, Any]]:
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
    return [dict(zip(_LISTED, row, strict=True)) for row in rows]
