"""The holes of one stored series over a year of 1-minute candles (525,600 rows, a few holes),
beside a plain ``count(*)`` of the same range, in one fresh general database holding a second
series of the same size (as the klines table holds many: a series is a range of its key).

Ours: ``db_general.missing_candles`` (the stored starts in key order beside the next, ``lead``, and
the range's edges). Baseline: ``SELECT count(*)`` of the same series and range, which reads the
same primary-key range and nothing else. Both run REPEATS times, alternated; the medians count.
The table is vacuumed first, so both can read the index alone, as a table that has settled does.
"""

from datetime import UTC, datetime, timedelta
from statistics import median

from harness import Row, stopwatch
from sqlalchemy import func, select, text
from test_support.scratch import scratch_database

from bybit_client.enums import Interval
from core_config import build_settings
from db_core import create_sync_database_engine, upgrade
from db_general import GENERAL_DB, Kline, Series, missing_candles

REPEATS = 7
FIRST = datetime(2025, 1, 1, tzinfo=UTC)
LAST = FIRST + timedelta(minutes=525_600 - 1)
# Whole minutes, counted from FIRST, left out of the stored series.
HOLES = ((1_000, 1_009), (100_000, 100_000), (250_000, 250_119), (400_000, 400_001), (525_000, 525_059))
SERIES = Series("linear", "BTCUSDT", Interval.MIN_1)

_FILL = text(
    """
    INSERT INTO klines (category, symbol, interval, start_time, open, high, low, close, volume, turnover)
    SELECT 'linear', symbol, '1', :first + make_interval(mins => n), 1, 1, 1, 1, 1, 1
    FROM generate_series(0, 525599) AS n, (VALUES ('BTCUSDT'), ('ETHUSDT')) AS series (symbol)
    """
)


def run() -> list[Row]:
    settings = build_settings(environment="test")
    with scratch_database("bench_holes") as url:
        upgrade(GENERAL_DB, settings, url=url)
        engine = create_sync_database_engine(GENERAL_DB, settings, url=url)
        try:
            with engine.begin() as connection:
                connection.execute(_FILL, {"first": FIRST})
                for start, end in HOLES:
                    connection.execute(
                        text("DELETE FROM klines WHERE symbol = 'BTCUSDT' AND start_time BETWEEN :a AND :b"),
                        {"a": FIRST + timedelta(minutes=start), "b": FIRST + timedelta(minutes=end)},
                    )
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(text("VACUUM ANALYZE klines"))
            count = select(func.count()).where(
                Kline.category == SERIES.category,
                Kline.symbol == SERIES.symbol,
                Kline.interval == SERIES.interval.value,
                Kline.start_time.between(FIRST, LAST),
            )
            holes_seconds, count_seconds = [], []
            with engine.connect() as connection:
                for _ in range(REPEATS):
                    with stopwatch() as elapsed:
                        found = missing_candles(connection, SERIES, FIRST, LAST)
                    holes_seconds.append(elapsed())
                    with stopwatch() as elapsed:
                        stored = connection.scalar(count)
                    count_seconds.append(elapsed())
            missing = sum(hole.candles for hole in found)
            assert len(found) == len(HOLES)
            assert missing == sum(end - start + 1 for start, end in HOLES) == 525_600 - (stored or 0)
        finally:
            engine.dispose()
    return [
        Row(
            benchmark="kline holes, a year of 1-minute candles",
            metric="query seconds (525,600 rows, 5 holes)",
            value=median(holes_seconds),
            unit="s",
            baseline="count(*) of the same range",
            baseline_value=median(count_seconds),
            goal="<= 2x count(*)",
            higher_is_better=False,
        )
    ]
