"""Instrument reads (async hot reads, for the API) and bulk writes (sync, for the worker)."""

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter
from typing import Any, LiteralString, TypedDict, cast

from sqlalchemy import CursorResult, text, update
from sqlalchemy.orm import Session

from db_core import ReadConnection, fetch_rows, select_list
from db_general.models import Instrument
from db_general.pagination import decode_cursor, encode_cursor
from db_general.rows import InstrumentRow, UpsertCounts
from db_general.staging import load_staging

_COLUMNS = (
    "category",
    "symbol",
    "status",
    "base_coin",
    "quote_coin",
    "tick_size",
    "qty_step",
    "min_order_qty",
    "max_order_qty",
    "min_notional",
    "launch_time",
    "raw",
)
_VALUES_OF = attrgetter(*_COLUMNS)  # dataclasses.astuple deep-copies: far slower
_TYPES = ("text",) * 5 + ("numeric",) * 5 + ("timestamptz", "jsonb")
# Written out in full so the statement reads as it runs; the columns match _COLUMNS.
_MERGE = text(
    """
    INSERT INTO instruments AS i (
        category, symbol, status, base_coin, quote_coin, tick_size, qty_step, min_order_qty,
        max_order_qty, min_notional, launch_time, raw, first_seen_at, updated_at, delisted_at
    )
    SELECT category, symbol, status, base_coin, quote_coin, tick_size, qty_step, min_order_qty,
           max_order_qty, min_notional, launch_time, raw, :seen_at, :seen_at, NULL
    FROM _stage_instruments
    ON CONFLICT (category, symbol) DO UPDATE SET
        status = excluded.status, base_coin = excluded.base_coin, quote_coin = excluded.quote_coin,
        tick_size = excluded.tick_size, qty_step = excluded.qty_step,
        min_order_qty = excluded.min_order_qty, max_order_qty = excluded.max_order_qty,
        min_notional = excluded.min_notional, launch_time = excluded.launch_time, raw = excluded.raw,
        updated_at = excluded.updated_at, delisted_at = NULL
    WHERE (i.status, i.base_coin, i.quote_coin, i.tick_size, i.qty_step, i.min_order_qty,
           i.max_order_qty, i.min_notional, i.launch_time, i.raw, i.delisted_at IS NULL)
          IS DISTINCT FROM
          (excluded.status, excluded.base_coin, excluded.quote_coin, excluded.tick_size, excluded.qty_step,
           excluded.min_order_qty, excluded.max_order_qty, excluded.min_notional, excluded.launch_time,
           excluded.raw, true)
    RETURNING (xmax = 0) AS inserted
    """
)


class InstrumentListing(TypedDict):
    """An instrument as lists show it: every column but ``raw``, as a plain dict.

    Sizes and prices are exact decimal text as PostgreSQL writes ``numeric`` (plain digits, never an
    exponent); times are UTC datetimes.
    """

    category: str
    symbol: str
    status: str
    base_coin: str
    quote_coin: str
    tick_size: str | None
    qty_step: str | None
    min_order_qty: str | None
    max_order_qty: str | None
    min_notional: str | None
    launch_time: datetime | None
    first_seen_at: datetime
    updated_at: datetime
    delisted_at: datetime | None


_LISTING_NAMES = tuple(InstrumentListing.__annotations__)
# No ``raw``: its JSON decode was most of a page's cost and no list shows it. The select list is
# made from the names (never from input), so a row's values can only line up with them.
_LISTING_SELECT = f"SELECT {select_list(Instrument.__table__, _LISTING_NAMES)} FROM instruments"  # noqa: S608
# Each filter adds one fixed condition; values always travel as parameters.
_FILTERS: tuple[tuple[str, LiteralString], ...] = (
    ("category", "category = %(category)s"),
    ("status", "status = %(status)s"),
    ("base_coin", "base_coin = %(base_coin)s"),
    ("after_category", "(category, symbol) > (%(after_category)s, %(after_symbol)s)"),
)


@dataclass(frozen=True)
class InstrumentPage:
    items: list[InstrumentListing]
    next_cursor: str | None


def _listings(rows: list[tuple[Any, ...]]) -> list[InstrumentListing]:
    # One comprehension for the page, no call per row: this is the whole cost of a page in Python.
    return cast(list[InstrumentListing], [dict(zip(_LISTING_NAMES, row, strict=True)) for row in rows])


async def list_instruments(
    connection: ReadConnection,
    *,
    category: str | None = None,
    status: str | None = None,
    base_coin: str | None = None,
    limit: int,
    cursor: str | None = None,
    include_delisted: bool = True,
) -> InstrumentPage:
    """One page of ``InstrumentListing`` dicts in (category, symbol) order; ``next_cursor`` is None
    on the last page.

    Raises ``InvalidCursorError`` (a ``ValueError``) for a cursor that was not produced here.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    params: dict[str, Any] = {"category": category, "status": status, "base_coin": base_coin}
    if cursor is not None:
        params["after_category"], params["after_symbol"] = decode_cursor(cursor, 2)
    conditions = [condition for name, condition in _FILTERS if params.get(name) is not None]
    if not include_delisted:
        conditions.append("delisted_at IS NULL")
    where: LiteralString = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    params["limit"] = limit + 1  # one more than asked tells whether another page follows
    rows = await fetch_rows(
        connection, f"{_LISTING_SELECT} {where} ORDER BY category, symbol LIMIT %(limit)s", params
    )
    items = _listings(rows[:limit])
    next_cursor = encode_cursor(items[-1]["category"], items[-1]["symbol"]) if len(rows) > limit else None
    return InstrumentPage(items, next_cursor)


async def get_instrument(connection: ReadConnection, category: str, symbol: str) -> InstrumentListing | None:
    """One instrument as lists show it, or None."""
    rows = await fetch_rows(
        connection,
        f"{_LISTING_SELECT} WHERE category = %(category)s AND symbol = %(symbol)s",
        {"category": category, "symbol": symbol},
    )
    return _listings(rows)[0] if rows else None


def upsert_instruments(session: Session, rows: Iterable[InstrumentRow], seen_at: datetime) -> UpsertCounts:
    """Insert new instruments and update changed ones; ``updated_at`` moves only for changed rows.

    A delisted instrument that shows up again is listed again (``delisted_at`` cleared).
    """
    unique = {(row.category, row.symbol): row for row in rows}  # the last of duplicates wins
    if not unique:
        return UpsertCounts(0, 0, 0)
    load_staging(
        session, target="instruments", columns=_COLUMNS, types=_TYPES, rows=map(_VALUES_OF, unique.values())
    )
    flags = session.execute(_MERGE, {"seen_at": seen_at}).scalars().all()
    inserted = sum(1 for flag in flags if flag)
    updated = len(flags) - inserted
    return UpsertCounts(inserted, updated, len(unique) - len(flags))


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
