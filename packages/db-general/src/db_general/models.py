"""The general database's tables: instruments, klines and the record of sync runs."""

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import CheckConstraint, Index, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from db_core import BigIdentity, new_registry, one_of

SYNC_STATUSES = ("running", "succeeded", "failed")


class GeneralBase(DeclarativeBase):
    """Declarative base of the general database only (its own registry and MetaData)."""

    registry = new_registry()


class Instrument(GeneralBase):
    """A tradable instrument of one Bybit category; never deleted, ``delisted_at`` marks its end."""

    __tablename__ = "instruments"
    __table_args__ = (
        # The API filters by category and status, paging in (category, symbol) order.
        Index("ix_instruments_category_status_symbol", "category", "status", "symbol"),
        Index("ix_instruments_base_coin_category_symbol", "base_coin", "category", "symbol"),
    )

    category: Mapped[str] = mapped_column(primary_key=True)
    symbol: Mapped[str] = mapped_column(primary_key=True)
    status: Mapped[str]
    base_coin: Mapped[str]
    quote_coin: Mapped[str]
    tick_size: Mapped[Decimal | None]
    qty_step: Mapped[Decimal | None]
    min_order_qty: Mapped[Decimal | None]
    max_order_qty: Mapped[Decimal | None]
    min_notional: Mapped[Decimal | None]
    launch_time: Mapped[datetime | None]
    raw: Mapped[dict[str, Any]]
    first_seen_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    delisted_at: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"Instrument({self.category}/{self.symbol}, {self.status})"


class Kline(GeneralBase):
    """One candle. The primary key (category, symbol, interval, start_time) serves range queries."""

    __tablename__ = "klines"

    category: Mapped[str] = mapped_column(primary_key=True)
    symbol: Mapped[str] = mapped_column(primary_key=True)
    interval: Mapped[str] = mapped_column(primary_key=True)
    start_time: Mapped[datetime] = mapped_column(primary_key=True)
    open: Mapped[Decimal]
    high: Mapped[Decimal]
    low: Mapped[Decimal]
    close: Mapped[Decimal]
    volume: Mapped[Decimal]
    turnover: Mapped[Decimal]

    def __repr__(self) -> str:
        return f"Kline({self.category}/{self.symbol} {self.interval} {self.start_time.isoformat()})"


class KlineGap(GeneralBase):
    """Candles of a series the exchange was asked for and had none of (a halted market, the time
    before a listing): found missing after a fetch that covered them, so they are not fetched again
    and again. The candles starting in [first_start, last_start] are missing by the exchange's own
    account; an operator's range sync asks again."""

    __tablename__ = "kline_gaps"
    __table_args__ = (CheckConstraint("first_start <= last_start", name="ordered"),)

    category: Mapped[str] = mapped_column(primary_key=True)
    symbol: Mapped[str] = mapped_column(primary_key=True)
    interval: Mapped[str] = mapped_column(primary_key=True)
    first_start: Mapped[datetime] = mapped_column(primary_key=True)
    last_start: Mapped[datetime]
    recorded_at: Mapped[datetime]

    def __repr__(self) -> str:
        return f"KlineGap({self.category}/{self.symbol} {self.interval} {self.first_start.isoformat()})"


class SyncRun(GeneralBase):
    """One synchronisation: what was synchronised, when, how many rows, how it ended."""

    __tablename__ = "sync_runs"
    __table_args__ = (
        one_of("status", SYNC_STATUSES),
        Index("ix_sync_runs_kind_started_at", "kind", "started_at"),
        Index("ix_sync_runs_running_touched_at", "touched_at", postgresql_where=text("status = 'running'")),
    )

    id: Mapped[BigIdentity]
    kind: Mapped[str]
    category: Mapped[str | None]
    symbol: Mapped[str | None]
    interval: Mapped[str | None]
    range_start: Mapped[datetime | None]
    range_end: Mapped[datetime | None]
    # The sync's task id (one row per sync): its next chunk, a retry or a redelivery finds the row.
    task_id: Mapped[str | None] = mapped_column(unique=True)
    status: Mapped[str] = mapped_column(server_default="running")
    rows: Mapped[int] = mapped_column(server_default="0")
    error: Mapped[str | None]
    # Attempts that failed (a Bybit outage retried, a worker lost mid-chunk, the last failure), and
    # what the newest of them said, oldest first: [{"at": ISO time, "error": words}].
    failed_attempts: Mapped[int] = mapped_column(server_default="0")
    attempt_errors: Mapped[list[dict[str, str]]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    # What a running sync waits for, in words (Bybit's call budget holding every call); cleared when
    # the sync goes on or ends.
    waiting: Mapped[str | None]
    started_at: Mapped[datetime] = mapped_column(server_default=func.now())
    finished_at: Mapped[datetime | None]
    # The last sign of life of a running sync (a chunk started, rows written, an attempt recorded, a
    # wait noted): a running row untouched for longer than any task can stay silent was abandoned.
    touched_at: Mapped[datetime] = mapped_column(server_default=func.now())

    def __repr__(self) -> str:
        return f"SyncRun(id={self.id}, kind={self.kind!r}, status={self.status!r})"
