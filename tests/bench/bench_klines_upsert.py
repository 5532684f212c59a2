"""Bulk upsert of 100,000 klines into a fresh general database, beside the naive ORM loop and raw COPY.

Baselines: ``session.add`` per row, then one commit, into its own fresh database; and the floor
no upsert of new rows can beat, a raw ``COPY`` of the same rows (same driver, same row feed)
straight into the empty ``klines`` table of another fresh database. Ours: ``db_general.upsert_klines``
(the series locked, their stored candles over the batch's span read back and compared with the rows
in Python, a COPY of the new rows straight into klines and an UPDATE of the changed ones). The
re-upsert of the same rows must write nothing and leave the row count unchanged; it is measured too:
it ships no row to the server, it reads the stored ones back, so it can beat the raw COPY. Each side
runs REPEATS times, alternated (the machine is shared and noisy); the median of each counts.
"""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from operator import attrgetter
from statistics import median

from harness import Row, stopwatch
from psycopg import Connection as PsycopgConnection
from sqlalchemy import func, select
from test_support.scratch import scratch_database

from core_config import build_settings
from db_core import create_sync_database_engine, session_scope, sync_session_factory, upgrade
from db_general import GENERAL_DB, Kline, KlineRow, upsert_klines

ROWS = 100_000
REPEATS = 5
SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT")
START = datetime(2023, 1, 1, tzinfo=UTC)


def make_rows() -> list[KlineRow]:
    per_symbol = ROWS // len(SYMBOLS)
    rows = []
    for s, symbol in enumerate(SYMBOLS):
        for i in range(per_symbol):
            base = Decimal(20000 + s * 1000 + i % 997) + Decimal(i % 100) / 100
            rows.append(
                KlineRow(
                    "linear",
                    symbol,
                    "1",
                    START + timedelta(minutes=i),
                    base,
                    base + Decimal("5.5"),
                    base - Decimal("4.25"),
                    base + Decimal("1.1"),
                    Decimal(i % 5000) / 1000,
                    base * Decimal(i % 5000) / 1000,
                )
            )
    return rows


def naive_orm_loop(url: str, rows: list[KlineRow]) -> float:
    settings = build_settings(environment="test")
    upgrade(GENERAL_DB, settings, url=url)
    engine = create_sync_database_engine(GENERAL_DB, settings, url=url)
    try:
        with stopwatch() as elapsed, session_scope(sync_session_factory(engine)) as session:
            for r in rows:
                session.add(
                    Kline(
                        category=r.category,
                        symbol=r.symbol,
                        interval=r.interval,
                        start_time=r.start_time,
                        open=r.open,
                        high=r.high,
                        low=r.low,
                        close=r.close,
                        volume=r.volume,
                        turnover=r.turnover,
                    )
                )
        return elapsed()
    finally:
        engine.dispose()


KLINE_COLUMNS = [column.name for column in Kline.__table__.columns]
KLINE_TYPES = ["text", "text", "text", "timestamptz"] + ["numeric"] * 6
values = attrgetter(*KLINE_COLUMNS)


def raw_copy(url: str, rows: list[KlineRow]) -> float:
    """Seconds for a plain COPY of ``rows`` into the empty klines table, committed."""
    settings = build_settings(environment="test")
    upgrade(GENERAL_DB, settings, url=url)
    engine = create_sync_database_engine(GENERAL_DB, settings, url=url)
    factory = sync_session_factory(engine)
    try:
        with stopwatch() as elapsed, session_scope(factory) as session:
            connection = session.connection().connection.driver_connection
            assert isinstance(connection, PsycopgConnection)
            statement = f"COPY klines ({', '.join(KLINE_COLUMNS)}) FROM STDIN"
            with connection.cursor() as cursor, cursor.copy(statement) as copy:
                copy.set_types(KLINE_TYPES)
                for row in rows:
                    copy.write_row(values(row))
        with session_scope(factory) as session:
            assert session.scalar(select(func.count()).select_from(Kline)) == len(rows)
        return elapsed()
    finally:
        engine.dispose()


def bulk_upsert(url: str, rows: list[KlineRow]) -> tuple[float, float, int, int]:
    """Seconds for the first upsert and the re-upsert; rows the re-upsert wrote; the final count."""
    settings = build_settings(environment="test")
    upgrade(GENERAL_DB, settings, url=url)
    engine = create_sync_database_engine(GENERAL_DB, settings, url=url)
    factory = sync_session_factory(engine)
    try:
        with stopwatch() as first, session_scope(factory) as session:
            written = upsert_klines(session, rows)
        assert written == len(rows), written
        with stopwatch() as again, session_scope(factory) as session:
            rewritten = upsert_klines(session, rows)
        with session_scope(factory) as session:
            count = session.scalar(select(func.count()).select_from(Kline)) or 0
        return first(), again(), rewritten, count
    finally:
        engine.dispose()


def run() -> list[Row]:
    rows = make_rows()
    with scratch_database("bench_naive") as url:
        naive_seconds = naive_orm_loop(url, rows)
    copies, firsts, agains = [], [], []
    for _ in range(REPEATS):
        with scratch_database("bench_copy") as url:
            copies.append(raw_copy(url, rows))
        with scratch_database("bench_upsert") as url:
            first_seconds, again_seconds, rewritten, count = bulk_upsert(url, rows)
        if rewritten or count != len(rows):
            raise SystemExit(
                f"re-upsert changed {rewritten} rows; {count} rows stored for {len(rows)} upserted"
            )
        firsts.append(first_seconds)
        agains.append(again_seconds)
    copy_seconds, first_seconds, again_seconds = median(copies), median(firsts), median(agains)
    print(
        f"{len(rows):,} klines: naive ORM loop {naive_seconds:.2f} s, raw COPY {copy_seconds:.2f} s, "
        f"upsert {first_seconds:.2f} s, re-upsert of the same rows {again_seconds:.2f} s "
        f"(nothing changed, {len(rows):,} rows stored); medians of {REPEATS}, samples (s): "
        f"COPY {[round(s, 2) for s in copies]}, upsert {[round(s, 2) for s in firsts]}, "
        f"re-upsert {[round(s, 2) for s in agains]}"
    )
    naive_rate = len(rows) / naive_seconds
    copy_rate = len(rows) / copy_seconds
    copy_baseline = "raw COPY of the same rows into the empty klines table"
    return [
        Row(
            benchmark="klines upsert",
            metric="rows/s",
            value=len(rows) / first_seconds,
            unit="rows/s",
            baseline="naive ORM loop",
            baseline_value=naive_rate,
            goal=">= 10x baseline and >= 50,000 rows/s",
        ),
        Row(
            benchmark="klines upsert",
            metric="re-upsert rows/s (no change)",
            value=len(rows) / again_seconds,
            unit="rows/s",
            baseline="naive ORM loop",
            baseline_value=naive_rate,
            goal="writes nothing, no duplicates",
        ),
        Row(
            benchmark="klines upsert vs raw COPY",
            metric="upsert rows/s",
            value=len(rows) / first_seconds,
            unit="rows/s",
            baseline=copy_baseline,
            baseline_value=copy_rate,
            goal=">= 0.5x raw COPY",
        ),
        Row(
            benchmark="klines upsert vs raw COPY",
            metric="re-upsert rows/s (no change)",
            value=len(rows) / again_seconds,
            unit="rows/s",
            baseline=copy_baseline,
            baseline_value=copy_rate,
            goal=">= 1.0x raw COPY",
        ),
    ]
