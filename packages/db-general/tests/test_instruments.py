"""Instruments: bulk upsert counts, updated_at moving only for changed rows, delisting, keyset pages."""

import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, delete, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import Session
from test_support.databases import wait_until_blocked_on_a_lock

from db_core import session_scope, sync_session_factory
from db_general import (
    Instrument,
    InstrumentRow,
    InvalidCursorError,
    UpsertCounts,
    get_instrument,
    list_instruments,
    mark_delisted,
    upsert_instruments,
)

SEEN = datetime(2024, 5, 1, 12, tzinfo=UTC)
LATER = SEEN + timedelta(hours=1)


def instrument(
    symbol: str, category: str = "linear", status: str = "Trading", base: str = "BTC"
) -> InstrumentRow:
    return InstrumentRow(
        category=category,
        symbol=symbol,
        status=status,
        base_coin=base,
        quote_coin="USDT",
        tick_size=Decimal("0.10"),
        qty_step=Decimal("0.001"),
        min_order_qty=Decimal("0.001"),
        max_order_qty=Decimal("1190.000"),
        min_notional=Decimal("5"),
        launch_time=datetime(2020, 3, 25, tzinfo=UTC),
        raw={"symbol": symbol, "priceFilter": {"tickSize": "0.10"}},
    )


def test_upsert_counts_and_updated_at_moves_only_for_changed_rows(general_sync_session: Session) -> None:
    rows = [instrument(f"S{i}USDT") for i in range(5)]
    counts = upsert_instruments(general_sync_session, rows, SEEN)
    assert (counts.inserted, counts.updated, counts.unchanged) == (5, 0, 0)

    again = upsert_instruments(general_sync_session, rows, LATER)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 5)

    changed = [
        replace(rows[0], tick_size=Decimal("0.5")),
        replace(rows[1], tick_size=Decimal("0.1000")),  # equal as a number: unchanged
        replace(rows[2], raw={**rows[2].raw, "status": "Trading"}),
        *rows[3:],
        instrument("NEWUSDT"),
    ]
    counts = upsert_instruments(general_sync_session, changed, LATER)
    assert (counts.inserted, counts.updated, counts.unchanged) == (1, 2, 3)

    general_sync_session.expire_all()
    first = general_sync_session.get_one(Instrument, ("linear", "S0USDT"))
    assert first.tick_size == Decimal("0.5")
    assert (first.first_seen_at, first.updated_at) == (SEEN, LATER)
    untouched = general_sync_session.get_one(Instrument, ("linear", "S1USDT"))
    assert (untouched.updated_at, untouched.tick_size) == (SEEN, Decimal("0.10"))  # the stored scale stays
    assert general_sync_session.get_one(Instrument, ("linear", "S2USDT")).raw["status"] == "Trading"
    assert general_sync_session.get_one(Instrument, ("linear", "NEWUSDT")).first_seen_at == LATER


def test_mark_delisted_never_deletes_and_a_return_relists(general_sync_session: Session) -> None:
    rows = [instrument(f"D{i}USDT") for i in range(4)] + [instrument("D0USD", category="inverse")]
    upsert_instruments(general_sync_session, rows, SEEN)

    assert mark_delisted(general_sync_session, "linear", {"D0USDT", "D1USDT"}, LATER) == 2
    assert mark_delisted(general_sync_session, "linear", {"D0USDT", "D1USDT"}, LATER) == 0  # already marked
    general_sync_session.expire_all()
    gone = general_sync_session.get_one(Instrument, ("linear", "D2USDT"))
    assert gone.delisted_at == LATER
    assert general_sync_session.get_one(Instrument, ("linear", "D0USDT")).delisted_at is None
    assert general_sync_session.get_one(Instrument, ("inverse", "D0USD")).delisted_at is None

    counts = upsert_instruments(general_sync_session, [rows[2]], LATER + timedelta(hours=1))
    assert counts.updated == 1
    general_sync_session.expire_all()
    assert general_sync_session.get_one(Instrument, ("linear", "D2USDT")).delisted_at is None

    with pytest.raises(ValueError, match="present_symbols is empty"):
        mark_delisted(general_sync_session, "linear", [], LATER)


async def test_keyset_pagination_walks_every_row_once(
    general_session: AsyncSession, general_connection: AsyncConnection
) -> None:
    rows = (
        [instrument(f"P{i:02d}USDT") for i in range(7)]
        + [instrument(f"P{i:02d}USDT", category="spot", base="ETH") for i in range(3)]
        + [instrument("PHALTUSDT", status="Closed")]
    )
    general_session.add_all(Instrument(**asdict(r), first_seen_at=SEEN, updated_at=SEEN) for r in rows)
    await general_session.flush()

    seen: list[tuple[str, str]] = []
    cursor = None
    for _ in range(10):
        page = await list_instruments(general_connection, limit=3, cursor=cursor)
        seen += [(i["category"], i["symbol"]) for i in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == sorted((r.category, r.symbol) for r in rows)

    linear = await list_instruments(general_connection, category="linear", status="Trading", limit=100)
    assert len(linear.items) == 7
    assert linear.next_cursor is None
    eth = await list_instruments(general_connection, base_coin="ETH", limit=2)
    assert [i["category"] for i in eth.items] == ["spot", "spot"]
    assert "raw" not in eth.items[0]  # lists never load the raw exchange document
    assert eth.items[0]["max_order_qty"] == "1190.000"  # exact decimal text, as stored
    assert eth.next_cursor is not None

    found = await get_instrument(general_connection, "spot", "P01USDT")
    assert found is not None
    assert found == eth.items[1]  # the listing's shape
    assert found["tick_size"] == "0.10"
    assert found["first_seen_at"] == SEEN
    assert await get_instrument(general_connection, "spot", "NOPE") is None

    with pytest.raises(InvalidCursorError):
        await list_instruments(general_connection, limit=3, cursor="not-a-cursor")
    # Well-formed JSON whose strings PostgreSQL cannot take: a NUL, a lone surrogate.
    for crafted in ("WyJcdTAwMDAiLCJ4Il0", "WyJcdWQ4MDAiLCJ4Il0"):
        with pytest.raises(InvalidCursorError):
            await list_instruments(general_connection, limit=3, cursor=crafted)


def _collation_unlike_bytes(session: Session) -> str | None:
    """A collation of the server that orders "a1" before "B1" (bytes put "B1" first), or None."""
    for name in ("und-x-icu", "en-x-icu", "en_US.utf8", "en_US"):
        found = session.scalar(
            text("SELECT count(*) FROM pg_collation WHERE collname = :name"), {"name": name}
        )
        if found:
            return name
    return None


def test_symbols_ordered_otherwise_by_the_collation_are_found_again(general_sync_session: Session) -> None:
    # The stored rows are read back over the batch's first to last symbol: as Python orders them
    # (by code point), whatever the column's collation says, or a stored row would be taken for a
    # new one and inserted twice.
    collation = _collation_unlike_bytes(general_sync_session)
    if collation is None:
        pytest.skip("the server has no collation other than byte order (no ICU, no en_US locale)")
    general_sync_session.execute(  # rolled back with the test, as everything here
        text(f'ALTER TABLE instruments ALTER COLUMN symbol TYPE varchar COLLATE "{collation}"')
    )
    rows = [instrument(symbol) for symbol in ("B1USDT", "a1USDT", "BTC-27DEC24", "BTC27DEC24")]
    assert upsert_instruments(general_sync_session, rows, SEEN) == UpsertCounts(4, 0, 0)
    assert upsert_instruments(general_sync_session, rows, LATER) == UpsertCounts(0, 0, 4)


def _upsert_and_commit(engine: Engine, rows: list[InstrumentRow]) -> UpsertCounts:
    with session_scope(sync_session_factory(engine)) as session:
        return upsert_instruments(session, rows, LATER)


def test_two_writers_of_a_category_at_once_take_turns(general_sync_engine: Engine) -> None:
    category = f"race{uuid.uuid4().hex[:8]}"
    try:
        with Session(general_sync_engine) as first, ThreadPoolExecutor(1) as pool:
            rows = [instrument(f"R{i}USDT", category=category) for i in range(3)]
            assert upsert_instruments(first, rows, SEEN).inserted == 3  # not committed
            # The same instruments, one changed and one new, from another writer meanwhile: it
            # waits for the first rather than colliding with its inserts.
            later = [replace(rows[0], status="Closed"), instrument("R9USDT", category=category)]
            second = pool.submit(_upsert_and_commit, general_sync_engine, later)
            wait_until_blocked_on_a_lock(general_sync_engine, second, "the second writer")
            first.commit()
            assert second.result(timeout=10) == UpsertCounts(1, 1, 0)
    finally:
        with general_sync_engine.begin() as connection:
            connection.execute(delete(Instrument).where(Instrument.category == category))
