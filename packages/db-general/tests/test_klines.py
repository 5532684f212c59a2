"""Klines: Decimal round trip, bulk upsert idempotency, range reads oldest first, resume point."""

import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import Session
from test_support.databases import wait_until_blocked_on_a_lock

from db_general import Kline, KlineRow, list_klines, newest_kline_start, upsert_klines

T0 = datetime(2024, 3, 1, tzinfo=UTC)


def kline(minute: int, close: str = "65000.5", symbol: str = "BTCUSDT") -> KlineRow:
    return KlineRow(
        category="linear",
        symbol=symbol,
        interval="1",
        start_time=T0 + timedelta(minutes=minute),
        open=Decimal("64999.1"),
        high=Decimal("65010"),
        low=Decimal("64990.25"),
        close=Decimal(close),
        volume=Decimal("12.345678901234567890"),
        turnover=Decimal("802345.000000000000000001"),
    )


def count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Kline)) or 0


def test_decimal_values_round_trip_exactly(general_sync_session: Session) -> None:
    row = kline(0, close="0.000000000000000001")
    upsert_klines(general_sync_session, [row])
    stored = general_sync_session.get_one(Kline, ("linear", "BTCUSDT", "1", row.start_time))
    assert stored.close == Decimal("0.000000000000000001")
    assert stored.volume == Decimal("12.345678901234567890")
    assert stored.turnover == Decimal("802345.000000000000000001")
    assert isinstance(stored.open, Decimal)
    assert stored.start_time == row.start_time
    assert stored.start_time.tzinfo is not None


def test_upsert_is_idempotent_and_updates_only_changed_rows(general_sync_session: Session) -> None:
    rows = [kline(m) for m in range(50)]
    assert upsert_klines(general_sync_session, rows) == 50
    assert upsert_klines(general_sync_session, rows) == 0
    assert count(general_sync_session) == 50

    changed = [*rows[:49], kline(49, close="1")]
    assert upsert_klines(general_sync_session, [*changed, kline(50)]) == 2  # one changed, one new
    assert count(general_sync_session) == 51
    general_sync_session.expire_all()
    assert (
        general_sync_session.get_one(Kline, ("linear", "BTCUSDT", "1", T0 + timedelta(minutes=49))).close == 1
    )


def test_duplicates_within_one_batch_keep_the_last(general_sync_session: Session) -> None:
    assert upsert_klines(general_sync_session, [kline(0, close="1"), kline(0, close="2")]) == 1
    assert general_sync_session.get_one(Kline, ("linear", "BTCUSDT", "1", T0)).close == 2
    assert upsert_klines(general_sync_session, []) == 0


def test_duplicates_keep_the_last_even_when_it_is_the_stored_one(general_sync_session: Session) -> None:
    assert upsert_klines(general_sync_session, [kline(0, close="2")]) == 1
    # The first copy differs from the stored row, the last equals it: the last wins, nothing written.
    assert upsert_klines(general_sync_session, [kline(0, close="1"), kline(0, close="2")]) == 0
    general_sync_session.expire_all()
    assert general_sync_session.get_one(Kline, ("linear", "BTCUSDT", "1", T0)).close == 2


def closes(session: Session) -> dict[int, Decimal]:
    """The stored closes of linear BTCUSDT 1-minute candles by minute after T0."""
    session.expire_all()
    stored = session.execute(
        select(Kline.start_time, Kline.close).where(Kline.symbol == "BTCUSDT", Kline.interval == "1")
    ).all()
    return {int((start - T0).total_seconds()) // 60: close for start, close in stored}


def test_a_batch_over_stored_and_new_candles_writes_only_the_new_and_changed(
    general_sync_session: Session,
) -> None:
    session = general_sync_session
    assert upsert_klines(session, [kline(m) for m in range(0, 10, 2)]) == 5  # stored: 0, 2, 4, 6, 8
    # Minutes 3..12: 4 and 8 unchanged, 6 changed, 3, 5, 7, 9..12 new; 0 and 2 are outside the batch.
    batch = [kline(m, close="7" if m == 6 else "65000.5") for m in range(3, 13)]
    assert upsert_klines(session, batch) == 1 + 7
    assert closes(session) == {m: Decimal("7" if m == 6 else "65000.5") for m in [0, 2, *range(3, 13)]}


def test_a_batch_with_gaps_leaves_the_stored_candles_between_alone(general_sync_session: Session) -> None:
    session = general_sync_session
    assert upsert_klines(session, [kline(m, close="1") for m in range(10)]) == 10
    assert upsert_klines(session, [kline(0, close="1"), kline(9, close="2")]) == 1
    assert closes(session) == {m: Decimal(2 if m == 9 else 1) for m in range(10)}


def test_a_change_in_the_last_digit_of_any_value_is_written(general_sync_session: Session) -> None:
    session = general_sync_session
    row = kline(0)
    assert upsert_klines(session, [row]) == 1
    for name in ("open", "high", "low", "close", "volume", "turnover"):
        nudged = replace(row, **{name: getattr(row, name) + Decimal("1e-18")})
        assert upsert_klines(session, [nudged]) == 1, name
        stored = session.get_one(Kline, ("linear", "BTCUSDT", "1", T0), populate_existing=True)
        assert getattr(stored, name) == getattr(nudged, name)
        assert upsert_klines(session, [nudged]) == 0, name
        row = nudged


def test_numerically_equal_values_are_unchanged_and_keep_the_stored_scale(
    general_sync_session: Session,
) -> None:
    session = general_sync_session
    row = replace(kline(0, close="1.00"), volume=Decimal("0.0000001"), turnover=Decimal("1E+3"))
    assert upsert_klines(session, [row]) == 1
    # The same numbers at another scale or in exponent notation: nothing written.
    same = replace(row, close=Decimal("1.0"), volume=Decimal("1E-7"), turnover=Decimal("1000.000"))
    assert upsert_klines(session, [same]) == 0
    assert upsert_klines(session, [row]) == 0
    stored = session.get_one(Kline, ("linear", "BTCUSDT", "1", T0), populate_existing=True)
    assert (str(stored.close), stored.volume, stored.turnover) == ("1.00", Decimal("1E-7"), Decimal(1000))
    assert upsert_klines(session, [replace(same, close=Decimal("1.000000000000000001"))]) == 1


def test_each_series_is_compared_with_its_own_candles(general_sync_session: Session) -> None:
    session = general_sync_session
    assert upsert_klines(session, [kline(m) for m in range(3)]) == 3
    other_interval = [replace(kline(m), interval="5") for m in range(3)]
    other_symbol = [kline(m, symbol="ETHUSDT") for m in range(3)]
    assert upsert_klines(session, [*other_interval, kline(1, close="9"), *other_symbol, kline(2)]) == 7
    assert count(session) == 9
    assert closes(session) == {0: Decimal("65000.5"), 1: Decimal(9), 2: Decimal("65000.5")}
    assert upsert_klines(session, [*other_symbol, *other_interval, kline(1, close="9")]) == 0


def test_a_start_without_a_time_zone_is_refused(general_sync_session: Session) -> None:
    naive = replace(kline(0), start_time=datetime(2024, 3, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        upsert_klines(general_sync_session, [naive])
    assert count(general_sync_session) == 0


def test_newest_kline_start_is_the_resume_point(general_sync_session: Session) -> None:
    assert newest_kline_start(general_sync_session, "linear", "BTCUSDT", "1") is None
    upsert_klines(general_sync_session, [kline(3), kline(7), kline(5), kline(9, symbol="ETHUSDT")])
    assert newest_kline_start(general_sync_session, "linear", "BTCUSDT", "1") == T0 + timedelta(minutes=7)


async def test_list_klines_oldest_first_within_the_range(
    general_session: AsyncSession, general_connection: AsyncConnection
) -> None:
    rows = [kline(m) for m in range(10)] + [kline(m, symbol="ETHUSDT") for m in range(10)]
    general_session.add_all(Kline(**asdict(r)) for r in rows)
    await general_session.flush()

    ranged = await list_klines(
        general_connection,
        category="linear",
        symbol="BTCUSDT",
        interval="1",
        start=T0 + timedelta(minutes=2),
        end=T0 + timedelta(minutes=6),
        limit=100,
    )
    assert [k["start_time"] for k in ranged] == [T0 + timedelta(minutes=m) for m in range(2, 7)]
    prices = ("open", "high", "low", "close", "volume", "turnover")
    assert ranged[0] == {
        "start_time": T0 + timedelta(minutes=2),
        **{field: format(getattr(rows[2], field), "f") for field in prices},
    }

    first = await list_klines(
        general_connection, category="linear", symbol="BTCUSDT", interval="1", start=T0, limit=3
    )
    assert [k["start_time"] for k in first] == [T0 + timedelta(minutes=m) for m in range(3)]

    newest = await list_klines(general_connection, category="linear", symbol="BTCUSDT", interval="1", limit=3)
    assert [k["start_time"] for k in newest] == [T0 + timedelta(minutes=m) for m in (7, 8, 9)]

    up_to_end = await list_klines(
        general_connection,
        category="linear",
        symbol="BTCUSDT",
        interval="1",
        end=T0 + timedelta(minutes=4),
        limit=3,
    )
    assert [k["start_time"] for k in up_to_end] == [T0 + timedelta(minutes=m) for m in (2, 3, 4)]

    other_interval = await list_klines(
        general_connection, category="linear", symbol="BTCUSDT", interval="5", limit=3
    )
    assert other_interval == []


def _upsert_and_commit(engine: Engine, rows: list[KlineRow]) -> int:
    with Session(engine) as session:
        written = upsert_klines(session, rows)
        session.commit()
    return written


def test_two_writers_of_a_series_at_once_take_turns(general_sync_engine: Engine) -> None:
    symbol = f"RACE{uuid.uuid4().hex[:8].upper()}"
    try:
        with Session(general_sync_engine) as first, ThreadPoolExecutor(1) as pool:
            assert upsert_klines(first, [kline(m, symbol=symbol) for m in range(3)]) == 3  # not committed
            # The same candles, one new and one changed, from another writer meanwhile (the stream
            # beside a sync): it waits for the first writer rather than colliding with its inserts.
            later = [kline(2, close="1", symbol=symbol), kline(3, symbol=symbol)]
            second = pool.submit(_upsert_and_commit, general_sync_engine, later)
            wait_until_blocked_on_a_lock(general_sync_engine, second, "the second writer")
            first.commit()
            assert second.result(timeout=10) == 2
        with Session(general_sync_engine) as session:
            closes = session.scalars(
                select(Kline.close).where(Kline.symbol == symbol).order_by(Kline.start_time)
            ).all()
        assert closes == [Decimal("65000.5"), Decimal("65000.5"), Decimal(1), Decimal("65000.5")]
    finally:
        with general_sync_engine.begin() as connection:
            connection.execute(delete(Kline).where(Kline.symbol == symbol))


def test_a_first_backfill_does_not_read_the_table_it_fills(general_sync_session: Session) -> None:
    # Statistics that say klines is empty (a new database) once led the planner to check each new
    # candle against klines by scanning it while the same statement filled it: quadratic, minutes
    # for a batch. The statement timeout is a hang guard, far above a linear write of these rows.
    session = general_sync_session
    session.execute(text("TRUNCATE klines"))  # rolled back with the test, as everything here
    session.execute(text("ANALYZE klines"))
    session.execute(text("SET LOCAL statement_timeout = '60s'"))
    first = [kline(minute) for minute in range(60_000)]
    assert upsert_klines(session, first) == 60_000
    # A resumed sync's batch starts at the newest stored candle: mostly new, a few stored.
    overlapping = [kline(minute, close="1") for minute in range(59_990, 120_000)]
    assert upsert_klines(session, overlapping) == 60_010
    assert count(session) == 120_000
    assert session.scalar(select(func.count()).where(Kline.close == Decimal("1"))) == 60_010
