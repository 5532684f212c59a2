"""Kline reads (async, for the API); the bulk upsert and the resume point (sync, for the worker)."""

from collections.abc import Iterable, Sequence
from dataclasses import fields
from datetime import UTC, datetime
from decimal import Decimal
from operator import attrgetter
from typing import Any

from sqlalchemy import Column, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import Session

from db_core import numerics_as_text
from db_general.models import GeneralBase, Kline
from db_general.rows import KlineRow
from db_general.upserts import COMPARED, UpsertTable

# The fields of ``KlineRow`` (a test holds them to the table's columns), the key and the values.
_COLUMNS = tuple(field.name for field in fields(KlineRow))
_TABLE = GeneralBase.metadata.tables[Kline.__tablename__]
_KEY = tuple(column.name for column in _TABLE.primary_key)
_VALUES = tuple(name for name in _COLUMNS if name not in _KEY)
_VALUES_OF = attrgetter(*_VALUES)
# The key is the series (category, symbol, interval) and the candle's start.
_SERIES = _KEY[:-1]
_START = _KEY[-1]
_START_OF = attrgetter(_START)

# A stored candle's values are read back as one text, as PostgreSQL prints them: one string per
# candle costs the client a fraction of six parsed Decimals, and an unchanged candle's text is the
# incoming Decimals' ``_VALUES_TEXT``.
_UPSERT = UpsertTable[KlineRow](
    _TABLE,
    fields=_COLUMNS,
    group=_SERIES,
    compared=(func.concat_ws(" ", *(_TABLE.c[name] for name in _VALUES)),),
)
_VALUES_TEXT = " ".join(["%s"] * len(_VALUES))


def _unchanged(stored: Sequence[Any], row: KlineRow) -> bool:
    """Whether the stored values equal ``row``'s as numbers, whatever their scale: 1.0 against a
    stored 1.00 writes nothing and the stored 1.00 stays.

    The text comparison settles nearly every candle: PostgreSQL prints a stored number as
    ``str(Decimal)`` printed it, unless the scale differs or Python chose exponent notation
    (``1E-7``); those are compared again as numbers.
    """
    values = _VALUES_OF(row)
    text = stored[COMPARED]
    return text == _VALUES_TEXT % values or tuple(map(Decimal, text.split(" "))) == values


def upsert_klines(session: Session, rows: Iterable[KlineRow]) -> int:
    """Insert new candles and update changed ones (``db_general.upserts``); return how many rows
    were written.

    Idempotent: upsert the same rows again and nothing is written, 0 returned; a value equal as a
    number to the stored one (1.0, 1.00) is unchanged. When a batch holds the same candle twice,
    the last one wins. The series written stay locked for other writers until the caller's
    transaction ends. ``start_time`` must be timezone-aware.

    The stored candles of each series between the batch's first and last start are read to compare
    with: give a batch of consecutive candles (a page of Bybit's, as the syncs and the stream do),
    not a few candles years apart.
    """
    batch = _UPSERT.split(session, map(_aware, rows), _unchanged)
    written = _UPSERT.update(session, batch.changed)
    _UPSERT.insert(session, batch.new)
    return written + len(batch.new)


def _aware(row: KlineRow) -> KlineRow:
    start = _START_OF(row)
    if start.tzinfo is None:
        raise ValueError(f"a kline's {_START} must be timezone-aware, not {start!r}")
    return row


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
