"""The bulk upserts of the general database: 100,000 klines and 10,000 instruments, each into a
fresh database, beside raw COPY (and, for klines, the naive ORM loop).

Baselines: ``session.add`` per kline, then one commit, into its own fresh database; and the floor
no upsert of new rows can beat, a raw ``COPY`` of the same rows (same driver, same row feed)
straight into the empty table of another fresh database. Ours: ``db_general.upsert_klines`` and
``upsert_instruments``, the one design of ``db_general.upserts`` (the batch's groups locked, their
stored rows over the batch's span read back and compared with the rows in Python, a COPY of the
new rows straight into the table and an UPDATE of the changed ones). The re-upsert of the same
rows must write nothing and leave the row count unchanged; it is measured too: it ships no row
to the server, it reads the stored ones back, so it can beat the raw COPY. Each side runs
REPEATS times, alternated (the machine is shared and noisy); the median of each counts.

The instruments are the fake exchange's ~1,900 (every category) repeated under new symbols, each
with its exchange document (``raw``, jsonb) as a sync stores it.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from operator import attrgetter
from statistics import median
from typing import Any

from harness import Row, stopwatch
from psycopg import Connection as PsycopgConnection
from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session
from test_support.scratch import scratch_database

from bybit_client import Instrument as BybitInstrument
from bybit_client.testing import default_instruments
from core_config import build_settings
from db_core import create_sync_database_engine, session_scope, sync_session_factory, upgrade
from db_general import (
    GENERAL_DB,
    GeneralBase,
    InstrumentRow,
    Kline,
    KlineRow,
    upsert_instruments,
    upsert_klines,
)
from db_general.bulk_copy import copy_types
from worker_service.syncing import instrument_row

ROWS = 100_000
INSTRUMENTS = 10_000
REPEATS = 5
SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT")
START = datetime(2023, 1, 1, tzinfo=UTC)
SEEN = datetime(2024, 1, 1, tzinfo=UTC)


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


def make_instruments() -> list[InstrumentRow]:
    listed = [
        instrument_row(BybitInstrument.model_validate({**item, "category": category}))
        for category, items in default_instruments().items()
        for item in items
    ]
    rows = []
    for i in range(INSTRUMENTS):
        row, copy = listed[i % len(listed)], i // len(listed)
        symbol = f"{row.symbol}{copy}"
        rows.append(replace(row, symbol=symbol, raw={**row.raw, "symbol": symbol}))
    return rows


def _engine_on(url: str) -> Callable[[], Any]:
    settings = build_settings(environment="test")
    upgrade(GENERAL_DB, settings, url=url)
    return lambda: create_sync_database_engine(GENERAL_DB, settings, url=url)


def naive_orm_loop(url: str, rows: Sequence[KlineRow]) -> float:
    engine = _engine_on(url)()
    try:
        with stopwatch() as elapsed, session_scope(sync_session_factory(engine)) as session:
            for r in rows:
                session.add(Kline(**{field.name: getattr(r, field.name) for field in fields(r)}))
        return elapsed()
    finally:
        engine.dispose()


@dataclass(frozen=True)
class UpsertCase:
    """One table under test: its rows, how they are upserted, and what a raw COPY of them writes."""

    name: str
    table: Table
    rows: Sequence[Any]
    upsert: Callable[[Session, Sequence[Any]], int]
    # The columns a COPY writes beyond the row's fields, and their values (set by the upsert itself).
    extra: dict[str, Any]
    again_goal: str

    def raw_copy(self, url: str) -> float:
        """Seconds for a plain COPY of the rows into the empty table, committed."""
        names = [field.name for field in fields(self.rows[0])]
        columns = [*names, *self.extra]
        types = copy_types(self.table, columns)
        values, extra = attrgetter(*names), tuple(self.extra.values())
        engine = _engine_on(url)()
        factory = sync_session_factory(engine)
        try:
            with stopwatch() as elapsed, session_scope(factory) as session:
                connection = session.connection().connection.driver_connection
                assert isinstance(connection, PsycopgConnection)
                statement = f"COPY {self.table.name} ({', '.join(columns)}) FROM STDIN"
                with connection.cursor() as cursor, cursor.copy(statement) as copy:
                    copy.set_types(types)
                    for row in self.rows:
                        copy.write_row((*values(row), *extra))
            with session_scope(factory) as session:
                assert session.scalar(select(func.count()).select_from(self.table)) == len(self.rows)
            return elapsed()
        finally:
            engine.dispose()

    def bulk_upsert(self, url: str) -> tuple[float, float]:
        """Seconds for the first upsert and the re-upsert, which must write nothing."""
        engine = _engine_on(url)()
        factory = sync_session_factory(engine)
        try:
            with stopwatch() as first, session_scope(factory) as session:
                written = self.upsert(session, self.rows)
            assert written == len(self.rows), written
            with stopwatch() as again, session_scope(factory) as session:
                rewritten = self.upsert(session, self.rows)
            with session_scope(factory) as session:
                count = session.scalar(select(func.count()).select_from(self.table)) or 0
        finally:
            engine.dispose()
        if rewritten or count != len(self.rows):
            raise SystemExit(
                f"{self.name}: re-upsert wrote {rewritten}; {count} rows stored for {len(self.rows)}"
            )
        return first(), again()

    def rows_vs_copy(self) -> tuple[list[Row], float, float]:
        copies, firsts, agains = [], [], []
        for _ in range(REPEATS):
            with scratch_database(f"bench_copy_{self.name}") as url:
                copies.append(self.raw_copy(url))
            with scratch_database(f"bench_upsert_{self.name}") as url:
                first_seconds, again_seconds = self.bulk_upsert(url)
            firsts.append(first_seconds)
            agains.append(again_seconds)
        copy_seconds, first_seconds, again_seconds = median(copies), median(firsts), median(agains)
        count = len(self.rows)
        print(
            f"{count:,} {self.name}: raw COPY {copy_seconds:.2f} s, upsert {first_seconds:.2f} s, "
            f"re-upsert of the same rows {again_seconds:.2f} s (nothing changed); medians of {REPEATS}, "
            f"samples (s): COPY {[round(s, 2) for s in copies]}, upsert {[round(s, 2) for s in firsts]}, "
            f"re-upsert {[round(s, 2) for s in agains]}"
        )
        baseline = f"raw COPY of the same rows into the empty {self.table.name} table"
        benchmark = f"{self.name} upsert vs raw COPY"
        rows = [
            Row(
                benchmark,
                "upsert rows/s",
                count / first_seconds,
                "rows/s",
                baseline,
                count / copy_seconds,
                ">= 0.5x raw COPY",
            ),
            Row(
                benchmark,
                "re-upsert rows/s (no change)",
                count / again_seconds,
                "rows/s",
                baseline,
                count / copy_seconds,
                self.again_goal,
            ),
        ]
        return rows, first_seconds, again_seconds


def run() -> list[Row]:
    tables = GeneralBase.metadata.tables
    klines = UpsertCase("klines", tables["klines"], make_rows(), upsert_klines, {}, ">= 1.0x raw COPY")
    instruments = UpsertCase(
        "instruments",
        tables["instruments"],
        make_instruments(),
        lambda session, rows: upsert_instruments(session, rows, SEEN).written,
        {"first_seen_at": SEEN, "updated_at": SEEN, "delisted_at": None},
        # Each stored ``raw`` document is decoded to be compared: about as long as sending them all.
        "reported (about 1x raw COPY)",
    )
    with scratch_database("bench_naive") as url:
        naive_seconds = naive_orm_loop(url, klines.rows)
    naive_rate = ROWS / naive_seconds
    print(f"{ROWS:,} klines: naive ORM loop {naive_seconds:.2f} s")
    kline_rows, kline_first, kline_again = klines.rows_vs_copy()
    instrument_rows, _, _ = instruments.rows_vs_copy()
    return [
        Row(
            benchmark="klines upsert",
            metric="rows/s",
            value=ROWS / kline_first,
            unit="rows/s",
            baseline="naive ORM loop",
            baseline_value=naive_rate,
            goal=">= 10x baseline and >= 50,000 rows/s",
        ),
        Row(
            benchmark="klines upsert",
            metric="re-upsert rows/s (no change)",
            value=ROWS / kline_again,
            unit="rows/s",
            baseline="naive ORM loop",
            baseline_value=naive_rate,
            goal="writes nothing, no duplicates",
        ),
        *kline_rows,
        *instrument_rows,
    ]
