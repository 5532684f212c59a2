"""Kline reads (async, for the API); the bulk upsert, the resume point and the count of stored candles
(sync, for the worker)."""

from collections.abc import Iterable
from dataclasses import fields
from datetime import UTC, datetime
from decimal import Decimal
from operator import attrgetter
from typing import Any, LiteralString

from sqlalchemy import Column, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import Session

from db_core import numerics_as_text
from db_general.models import GeneralBase, Kline
from db_general.rows import KlineRow
from db_general.staging import column_list, copy_rows, copy_types, driver_connection

# The fields of ``KlineRow`` (a test holds them to the table's columns), the key and the values.
_COLUMNS = tuple(field.name for field in fields(KlineRow))
_ROW_OF = attrgetter(*_COLUMNS)
_TABLE = GeneralBase.metadata.tables[Kline.__tablename__]
_TYPES = dict(zip(_COLUMNS, copy_types(_TABLE, _COLUMNS), strict=True))
_KEY = tuple(column.name for column in _TABLE.primary_key)
_VALUES = tuple(name for name in _COLUMNS if name not in _KEY)
_VALUES_OF = attrgetter(*_VALUES)

# The key is the series (category, symbol, interval) and the candle's start.
_SERIES = _KEY[:-1]
_START = _KEY[-1]
_SERIES_OF = attrgetter(*_SERIES)
_START_OF = attrgetter(_START)


def _arrays(names: Iterable[str], extra: dict[str, str] | None = None) -> str:
    """Array parameters, one per column (named after it, of its type), for ``unnest``."""
    types = {**_TYPES, **(extra or {})}
    return ", ".join(f"%({name})s::{types[name]}[]" for name in names)


# Every writer of a series holds its lock until its transaction ends (taken in one order, so two
# writers of several series cannot deadlock): what it reads of the series afterwards stays true
# until it commits, so new candles go in with a plain COPY, with no other writer's insert of the
# same candle to race. Column names come from the table and the row class.
_LOCK_SERIES: LiteralString = f"""
    SELECT pg_advisory_xact_lock(hashtext('klines'), hashtext(concat_ws('/', {column_list(_SERIES)})))
    FROM unnest({_arrays(_SERIES)}) AS series({column_list(_SERIES)})
    ORDER BY {column_list(_SERIES)}
"""  # noqa: S608
# The stored candles of each series between the batch's first and last start: one range scan of the
# primary key per series. The values come as one text, as PostgreSQL prints them: one string per
# candle costs the client a fraction of six parsed Decimals, and an unchanged candle's text is the
# incoming Decimals' ``_VALUES_TEXT``.
_SPAN = ("first_start", "last_start")
_READ_STORED: LiteralString = f"""
    SELECT span.n, stored.{_START}, concat_ws(' ', {column_list(_VALUES, "stored.")})
    FROM unnest({_arrays((*_SERIES, *_SPAN), dict.fromkeys(_SPAN, _TYPES[_START]))})
        WITH ORDINALITY AS span({column_list((*_SERIES, *_SPAN))}, n)
    JOIN klines AS stored
        ON {" AND ".join(f"stored.{name} = span.{name}" for name in _SERIES)}
        AND stored.{_START} BETWEEN span.first_start AND span.last_start
"""  # noqa: S608
_VALUES_TEXT = " ".join(["%s"] * len(_VALUES))
# Rows per chunk of the streamed read (chunks need libpq 17 or newer, as psycopg's binary wheels bundle).
_READ_CHUNK = 2000
_UPDATE_CHANGED: LiteralString = f"""
    UPDATE klines AS stored SET {", ".join(f"{name} = changed.{name}" for name in _VALUES)}
    FROM unnest({_arrays(_COLUMNS)}) AS changed({column_list(_COLUMNS)})
    WHERE {" AND ".join(f"stored.{name} = changed.{name}" for name in _KEY)}
"""  # noqa: S608


def _equal_as_numbers(stored: str, row: KlineRow) -> bool:
    """Whether the stored values (``_READ_STORED``'s text) equal ``row``'s as numbers."""
    return tuple(map(Decimal, stored.split(" "))) == _VALUES_OF(row)


def upsert_klines(session: Session, rows: Iterable[KlineRow]) -> int:
    """Insert new candles and update changed ones; return how many rows were written.

    Idempotent: upsert the same rows again and nothing is written, 0 returned; a value equal as a
    number to the stored one (1.0, 1.00) is unchanged. When a batch holds the same candle twice,
    the last one wins. The series written stay locked for other writers until the caller's
    transaction ends. ``start_time`` must be timezone-aware.

    The stored candles of each series between the batch's first and last start are read to compare
    with: give a batch of consecutive candles (a page of Bybit's, as the syncs and the stream do),
    not a few candles years apart. The session must run at READ COMMITTED (the engines' default):
    the read after the lock must see what the lock's previous holder committed. An error raised
    while the stored candles stream in leaves the transaction failed: the caller rolls back.
    """
    # One row per key, the last: a COPY of the same new candle twice would violate the primary key.
    batches: dict[tuple[str, str, str], dict[datetime, KlineRow]] = {}
    for row in rows:
        start = _START_OF(row)
        if start.tzinfo is None:
            raise ValueError(f"a kline's {_START} must be timezone-aware, not {start!r}")
        series = _SERIES_OF(row)
        batch = batches.get(series)
        if batch is None:
            batch = batches[series] = {}
        batch[start] = row
    if not batches:
        return 0
    ordered = list(batches)
    spans: dict[str, list[Any]] = {
        name: list(values) for name, values in zip(_SERIES, zip(*ordered, strict=True), strict=True)
    }
    connection = driver_connection(session)
    # The lock first, in a statement of its own: the read after it sees what the last holder wrote.
    connection.execute(_LOCK_SERIES, spans)
    spans["first_start"] = [min(batches[series]) for series in ordered]
    spans["last_start"] = [max(batches[series]) for series in ordered]
    # A candle is unchanged when its values equal the stored ones as numbers, whatever their scale:
    # 1.0 against a stored 1.00 writes nothing and the stored 1.00 stays. The text comparison
    # settles nearly every candle at a fraction of the cost of Decimals: PostgreSQL prints a stored
    # number as ``str(Decimal)`` printed it, unless the scale differs or Python chose exponent
    # notation (``1E-7``); those are compared again as numbers. The stored candles arrive in chunks,
    # compared while the server reads on, and in binary: neither side turns the starts into text.
    unseen = [batches[series] for series in ordered]
    changed: list[KlineRow] = []
    with connection.cursor(binary=True) as cursor:
        for n, start, values in cursor.stream(_READ_STORED, spans, size=_READ_CHUNK):
            row = unseen[n - 1].pop(start, None)
            if row is None or values == _VALUES_TEXT % _VALUES_OF(row):
                continue
            if not _equal_as_numbers(values, row):
                changed.append(row)
    # What the read did not find is new.
    new = [row for batch in unseen for row in batch.values()]
    written = 0
    if changed:
        columns = dict(zip(_COLUMNS, map(list, zip(*map(_ROW_OF, changed), strict=True)), strict=True))
        with connection.cursor() as cursor:
            written += cursor.execute(_UPDATE_CHANGED, columns).rowcount
    if new:
        copy_rows(
            session, table=_TABLE.name, columns=_COLUMNS, types=tuple(_TYPES.values()), rows=map(_ROW_OF, new)
        )
        written += len(new)
    return written


def newest_kline_start(session: Session, category: str, symbol: str, interval: str) -> datetime | None:
    """The start of the newest stored candle (where a resumed sync continues), or None."""
    return session.scalar(
        select(func.max(Kline.start_time)).where(
            Kline.category == category, Kline.symbol == symbol, Kline.interval == interval
        )
    )


def count_klines(
    session: Session, category: str, symbol: str, interval: str, start: datetime, end: datetime
) -> int:
    """How many candles of the series are stored with a start between ``start`` and ``end``
    (inclusive): all of them when a resumed sync may go on from the newest."""
    count = session.scalar(
        select(func.count()).where(
            Kline.category == category,
            Kline.symbol == symbol,
            Kline.interval == interval,
            Kline.start_time.between(start, end),
        )
    )
    return int(count or 0)


# A candle as lists show it: its start and values; the series (category, symbol, interval) is the
# caller's. Keys are column names; prices and volumes are exact decimal text, the start a UTC datetime.
LISTED_KLINE_COLUMNS: tuple[Column[Any], ...] = tuple(
    column for column in _TABLE.c if column.name not in _SERIES
)
_LISTED = tuple(column.name for column in LISTED_KLINE_COLUMNS)
_K = _TABLE.c
_CANDLES = select(*numerics_as_text(LISTED_KLINE_COLUMNS)).where(
    *(_K[name] == bindparam(name) for name in _SERIES), _K[_START] <= bindparam("end")
)
_FIRST_FROM_START = (
    _CANDLES.where(_K[_START] >= bindparam("start")).order_by(_K[_START]).limit(bindparam("limit"))
)
# Without a start, the newest candles up to the end are wanted: read newest first, then reverse.
_NEWEST_UP_TO_END = _CANDLES.order_by(_K[_START].desc()).limit(bindparam("limit"))
_NO_END = datetime.max.replace(tzinfo=UTC)


async def list_klines(
    connection: AsyncConnection,
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
        "end": _NO_END if end is None else end,
        "limit": limit,
    }
    if start is None:
        rows = (await connection.execute(_NEWEST_UP_TO_END, params)).all()[::-1]
    else:
        rows = (await connection.execute(_FIRST_FROM_START, {**params, "start": start})).all()
    return [dict(zip(_LISTED, row, strict=True)) for row in rows]
