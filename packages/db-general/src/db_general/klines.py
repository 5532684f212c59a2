"""Kline reads (async hot reads, for the API) and the bulk upsert and resume point (sync, for the worker)."""

from collections.abc import Iterable
from dataclasses import fields
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any, LiteralString

from sqlalchemy import Column, CursorResult, func, select, text
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

# Rows already stored with the same values are left out before the insert (an anti-join on the
# primary key), so an unchanged re-upsert never enters the conflict check at all. ON CONFLICT stays
# for rows another writer stores meanwhile; its WHERE clause keeps an unchanged row unwritten then
# too. Column names come from the table and the row class, never from input.
_MERGE = text(
    f"""
    INSERT INTO klines AS k ({column_list(_COLUMNS)})
    SELECT {column_list(_COLUMNS, "s.")}
    FROM _stage_klines AS s
    WHERE NOT EXISTS (
        SELECT FROM klines AS stored
        WHERE {" AND ".join(f"stored.{name} = s.{name}" for name in _KEY)}
          AND ({column_list(_VALUES, "stored.")}) IS NOT DISTINCT FROM ({column_list(_VALUES, "s.")})
    )
    ON CONFLICT ({column_list(_KEY)}) DO UPDATE SET
        {", ".join(f"{name} = excluded.{name}" for name in _VALUES)}
    WHERE ({column_list(_VALUES, "k.")})
          IS DISTINCT FROM
          ({column_list(_VALUES, "excluded.")})
    """  # noqa: S608
)


def upsert_klines(session: Session, rows: Iterable[KlineRow]) -> int:
    """Insert new candles and update changed ones in one statement; return how many rows were written.

    Idempotent: upsert the same rows again and nothing is written, 0 returned. When a batch holds the
    same candle twice, the last one wins.
    """
    # One row per key before the merge: the anti-join must see the candle that wins, and ON CONFLICT
    # cannot update one row twice in a statement.
    unique = {_KEY_OF(row): row for row in rows}
    if not unique:
        return 0
    load_staging(
        session, target="klines", columns=_COLUMNS, types=_TYPES, rows=map(_VALUES_OF, unique.values())
    )
    result = session.execute(_MERGE)
    return int(result.rowcount) if isinstance(result, CursorResult) else 0


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
