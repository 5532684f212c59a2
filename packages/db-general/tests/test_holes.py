"""Holes of a stored series: found from the primary key, at the range's edges and between stored
candles, for every interval (months and Monday weeks included); recorded exchange gaps left out."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from bybit_client.enums import Interval
from db_general import (
    Hole,
    KlineRow,
    Series,
    finish_sync_run,
    missing_candles,
    record_exchange_gaps,
    series_holes,
    start_sync_run,
    upsert_klines,
)
from db_general.holes import BUCKET_CANDLES

ONE = Decimal("1")


def _row(series: Series, start: datetime) -> KlineRow:
    return KlineRow(
        series.category, series.symbol, series.interval.value, start, ONE, ONE, ONE, ONE, ONE, ONE
    )


def _starts(interval: Interval, first: datetime, count: int) -> list[datetime]:
    starts = [first]
    while len(starts) < count:
        starts.append(interval.after(starts[-1]))
    return starts


def _store(session: Session, series: Series, starts: list[datetime]) -> None:
    upsert_klines(session, [_row(series, start) for start in starts])


FIRSTS = {
    Interval.MIN_1: datetime(2024, 3, 1, tzinfo=UTC),
    Interval.HOUR_4: datetime(2024, 3, 1, 4, tzinfo=UTC),
    Interval.DAY: datetime(2024, 3, 1, tzinfo=UTC),
    Interval.WEEK: datetime(2024, 3, 4, tzinfo=UTC),  # a Monday
    Interval.MONTH: datetime(2023, 11, 1, tzinfo=UTC),
}


@pytest.mark.parametrize("interval", list(FIRSTS))
def test_holes_between_at_the_edges_and_none_when_whole(
    general_sync_session: Session, interval: Interval
) -> None:
    series = Series("linear", f"HOLE{interval.value}", interval)
    starts = _starts(interval, FIRSTS[interval], 12)
    assert missing_candles(general_sync_session, series, starts[0], starts[-1]) == [
        Hole(starts[0], starts[-1], 12)
    ]
    kept = [start for n, start in enumerate(starts) if n not in (0, 4, 5, 6, 9, 11)]
    _store(general_sync_session, series, kept)
    assert missing_candles(general_sync_session, series, starts[0], starts[-1]) == [
        Hole(starts[0], starts[0], 1),
        Hole(starts[4], starts[6], 3),
        Hole(starts[9], starts[9], 1),
        Hole(starts[11], starts[11], 1),
    ]
    # Other series and candles outside the range change nothing.
    _store(general_sync_session, replace(series, symbol="OTHER"), starts)
    assert missing_candles(general_sync_session, series, starts[1], starts[3]) == []
    _store(general_sync_session, series, starts)
    assert missing_candles(general_sync_session, series, starts[0], starts[-1]) == []


def test_recorded_exchange_gaps_are_left_out_unless_asked_for(general_sync_session: Session) -> None:
    series = Series("spot", "GAPUSDT", Interval.MIN_1)
    starts = _starts(Interval.MIN_1, FIRSTS[Interval.MIN_1], 30)
    _store(general_sync_session, series, starts[:5] + starts[20:])
    whole_hole = [Hole(starts[5], starts[19], 15)]
    assert missing_candles(general_sync_session, series, starts[0], starts[-1]) == whole_hole
    # The exchange had none of minutes 8 to 12: only the rest of the hole is asked for again.
    record_exchange_gaps(general_sync_session, series, [Hole(starts[8], starts[12], 5)], datetime.now(UTC))
    assert missing_candles(general_sync_session, series, starts[0], starts[-1]) == [
        Hole(starts[5], starts[7], 3),
        Hole(starts[13], starts[19], 7),
    ]
    assert (
        missing_candles(general_sync_session, series, starts[0], starts[-1], skip_recorded=False)
        == whole_hole
    )
    # Recorded again, wider: the range grows, nothing is recorded twice.
    record_exchange_gaps(general_sync_session, series, [Hole(starts[8], starts[19], 12)], datetime.now(UTC))
    assert missing_candles(general_sync_session, series, starts[0], starts[-1]) == [
        Hole(starts[5], starts[7], 3)
    ]


def test_an_empty_or_reversed_range_has_no_hole(general_sync_session: Session) -> None:
    series = Series("linear", "NONE", Interval.MIN_1)
    start = FIRSTS[Interval.MIN_1]
    assert missing_candles(general_sync_session, series, start, start - timedelta(minutes=1)) == []


def test_a_long_range_counted_in_buckets_finds_the_same_holes(general_sync_session: Session) -> None:
    series = Series("linear", "LONGUSDT", Interval.MIN_1)
    total = 5 * BUCKET_CANDLES + 17  # several buckets and a partial last one
    starts = _starts(Interval.MIN_1, FIRSTS[Interval.MIN_1], total)
    # A hole inside the first bucket, a whole bucket missing and more, one across a bucket's edge,
    # the very last candle.
    missing = {5, *range(BUCKET_CANDLES, 2 * BUCKET_CANDLES + 3), 3 * BUCKET_CANDLES - 1, 3 * BUCKET_CANDLES}
    missing.add(total - 1)
    _store(general_sync_session, series, [start for n, start in enumerate(starts) if n not in missing])
    found = missing_candles(general_sync_session, series, starts[0], starts[-1])
    assert [(hole.first_start, hole.last_start) for hole in found] == [
        (starts[5], starts[5]),
        (starts[BUCKET_CANDLES], starts[2 * BUCKET_CANDLES + 2]),
        (starts[3 * BUCKET_CANDLES - 1], starts[3 * BUCKET_CANDLES]),
        (starts[-1], starts[-1]),
    ]
    assert sum(hole.candles for hole in found) == len(missing)


def test_an_operator_sees_holes_to_fetch_the_exchanges_gaps_and_running_repairs(
    general_sync_session: Session,
) -> None:
    series = Series("linear", "SEEUSDT", Interval.MIN_1)
    starts = _starts(Interval.MIN_1, FIRSTS[Interval.MIN_1], 40)
    _store(general_sync_session, series, starts[:10] + starts[30:])
    record_exchange_gaps(general_sync_session, series, [Hole(starts[20], starts[29], 10)], datetime.now(UTC))
    run_id = start_sync_run(
        general_sync_session,
        kind="klines",
        task_id=f"repair-{series.symbol}",
        category="linear",
        symbol=series.symbol,
        interval="1",
        range_start=starts[0],
        range_end=starts[-1],
    )
    assert run_id is not None
    seen = series_holes(general_sync_session, series, starts[0], starts[-1])
    assert seen.holes == [Hole(starts[10], starts[19], 10)]
    assert seen.exchange_gaps == [Hole(starts[20], starts[29], 10)]
    assert [(repair.task_id, repair.range_start) for repair in seen.repairs] == [
        (f"repair-{series.symbol}", starts[0])
    ]
    finish_sync_run(general_sync_session, run_id, status="succeeded")
    assert series_holes(general_sync_session, series, starts[0], starts[-1]).repairs == []
