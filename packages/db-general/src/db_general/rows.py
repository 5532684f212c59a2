"""Plain rows the worker hands to the bulk upserts, decoupled from the ORM classes and Bybit's models."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any


@dataclass(frozen=True, slots=True)
class InstrumentRow:
    category: str
    symbol: str
    status: str
    base_coin: str
    quote_coin: str
    tick_size: Decimal | None
    qty_step: Decimal | None
    min_order_qty: Decimal | None
    max_order_qty: Decimal | None
    min_notional: Decimal | None
    launch_time: datetime | None
    raw: dict[str, Any]


@dataclass(frozen=True, slots=True)
class KlineRow:
    category: str
    symbol: str
    interval: str
    start_time: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    turnover: Decimal


@dataclass(frozen=True, slots=True)
class UpsertCounts:
    """What an upsert did: rows inserted, rows changed (updated), rows already up to date."""

    inserted: int
    updated: int
    unchanged: int

    @property
    def written(self) -> int:
        return self.inserted + self.updated
