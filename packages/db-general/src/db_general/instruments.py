"""Instrument reads (async, for the API) and bulk writes (sync, for the worker)."""

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from operator import attrgetter
from typing import Any

from sqlalchemy import Column, CursorResult, bindparam, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import Session

from db_core import numerics_as_text
from db_general.models import GeneralBase, Instrument
from db_general.pagination import decode_cursor, encode_cursor
from db_general.rows import InstrumentRow, UpsertCounts
from db_general.upserts import COMPARED, UpsertTable

# What the worker writes: the fields of ``InstrumentRow`` (a test holds them to the table's columns).
# The upsert sets first_seen_at, updated_at and delisted_at itself.
_COLUMNS = tuple(field.name for field in fields(InstrumentRow))
_TABLE = GeneralBase.metadata.tables[Instrument.__tablename__]
_KEY = tuple(column.name for column in _TABLE.primary_key)
_TRACKED = tuple(name for name in _COLUMNS if name not in _KEY)
_TRACKED_OF = attrgetter(*_TRACKED)
# An instrument is unchanged when every tracked value equals the stored one (numbers as numbers,
# ``raw`` as a document) and it is listed; a category is locked per batch.
_UPSERT = UpsertTable[InstrumentRow](
    _TABLE,
    fields=_COLUMNS,
    group=_KEY[:-1],
    compared=(*(_TABLE.c[name] for name in _TRACKED), _TABLE.c.delisted_at.is_(None)),
    inserted_also=("first_seen_at", "updated_at", "delisted_at"),
)


def _unchanged(stored: Sequence[Any], row: InstrumentRow) -> bool:
    return tuple(stored[COMPARED:]) == (*_TRACKED_OF(row), True)


# An instrument as lists show it: every column but ``raw`` (no list shows it). Keys are column names;
# sizes and prices are exact decimal text (PostgreSQL's, never an exponent), times UTC datetimes.
LISTED_INSTRUMENT_COLUMNS: tuple[Column[Any], ...] = tuple(
    column for column in _TABLE.c if column.name != "raw"
)
_LISTED = tuple(column.name for column in LISTED_INSTRUMENT_COLUMNS)
_C = _TABLE.c
# Built once: a page without filters runs this very statement, whose cache key SQLAlchemy then
# computes once; a filter adds its conditions to a copy.
_LISTING = (
    select(*numerics_as_text(LISTED_INSTRUMENT_COLUMNS))
    .order_by(_C.category, _C.symbol)
    .limit(bindparam("limit"))
)
_ONE = select(*numerics_as_text(LISTED_INSTRUMENT_COLUMNS)).where(
    _C.category == bindparam("category"), _C.symbol == bindparam("symbol")
)


@dataclass(frozen=True)
class InstrumentPage:
    items: list[dict[str, Any]]
    next_cursor: str | None


async def list_instruments(
    connection: AsyncConnection,
    *,
    category: str | None = None,
    status: str | None = None,
    base_coin: str | None = None,
    limit: int,
    cursor: str | None = None,
    include_delisted: bool = True,
) -> InstrumentPage:
    """One page of listed instruments (dicts keyed by the names of ``LISTED_INSTRUMENT_COLUMNS``) in
    (category, symbol) order; ``next_cursor`` is None on the last page.

    Raises ``InvalidCursorError`` (a ``ValueError``) for a cursor that was not produced here.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    conditions = [
        column == value
        for column, value in ((_C.category, category), (_C.status, status), (_C.base_coin, base_coin))
        if value is not None
    ]
    if cursor is not None:
        conditions.append(tuple_(_C.category, _C.symbol) > decode_cursor(cursor, 2))
    if not include_delisted:
        conditions.append(_C.delisted_at.is_(None))
    query = _LISTING.where(*conditions) if conditions else _LISTING
    # One more than asked tells whether another page follows.
    rows = (await connection.execute(query, {"limit": limit + 1})).all()
    items = [dict(zip(_LISTED, row, strict=True)) for row in rows[:limit]]
    next_cursor = encode_cursor(items[-1]["category"], items[-1]["symbol"]) if len(rows) > limit else None
    return InstrumentPage(items, next_cursor)


async def get_instrument(connection: AsyncConnection, category: str, symbol: str) -> dict[str, Any] | None:
    """One instrument as lists show it, or None."""
    row = (await connection.execute(_ONE, {"category": category, "symbol": symbol})).first()
    return None if row is None else dict(zip(_LISTED, row, strict=True))


_LISTED_RAW = select(_C.raw).where(
    _C.category == bindparam("category"), _C.symbol == bindparam("symbol"), _C.delisted_at.is_(None)
)


async def listed_instrument_raw(
    connection: AsyncConnection, category: str, symbol: str
) -> dict[str, Any] | None:
    """The stored ``instruments-info`` row of a listed instrument, as Bybit sent it (its order rules
    come from it); None when the instrument is unknown or delisted."""
    raw: dict[str, Any] | None = (
        await connection.execute(_LISTED_RAW, {"category": category, "symbol": symbol})
    ).scalar_one_or_none()
    return raw


def upsert_instruments(session: Session, rows: Iterable[InstrumentRow], seen_at: datetime) -> UpsertCounts:
    """Insert new instruments and update changed ones (``db_general.upserts``); ``updated_at``
    moves only for changed rows. The categories written stay locked for other writers until the
    caller's transaction ends.

    A delisted instrument that shows up again is listed again (``delisted_at`` cleared).
    """
    batch = _UPSERT.split(session, rows, _unchanged)
    updated = _UPSERT.update(session, batch.changed, updated_at=seen_at, delisted_at=None)
    _UPSERT.insert(session, batch.new, seen_at, seen_at, None)
    return UpsertCounts(len(batch.new), updated, batch.unchanged)


def mark_delisted(session: Session, category: str, present_symbols: Collection[str], at: datetime) -> int:
    """Set ``delisted_at`` on listed instruments of ``category`` missing from ``present_symbols``.

    Nothing is deleted. An empty ``present_symbols`` is refused: it would delist a whole category,
    which is far likelier a failed fetch than the exchange's truth.
    """
    if not present_symbols:
        raise ValueError(f"refusing to delist every {category} instrument: present_symbols is empty")
    result = session.execute(
        update(Instrument)
        .where(
            Instrument.category == category,
            Instrument.delisted_at.is_(None),
            Instrument.symbol.not_in(list(present_symbols)),
        )
        .values(delisted_at=at, updated_at=at)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount) if isinstance(result, CursorResult) else 0
