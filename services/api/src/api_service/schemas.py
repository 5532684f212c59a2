"""Response models: money and sizes as exact decimal strings, times as ISO 8601 UTC."""

from decimal import Decimal
from operator import methodcaller
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, Field, PlainSerializer, SecretStr

from db_general import MAX_ATTEMPT_ERRORS, SYNC_STATUSES

Symbol = Annotated[str, Field(pattern=r"^[A-Z0-9][A-Z0-9-]{1,39}$", examples=["BTCUSDT"])]

# PostgreSQL's bigint: ids beyond it are refused at the edge (a 422), never sent to the database.
MAX_ID = 2**63 - 1


def _storable(value: str) -> str:
    """Text PostgreSQL and the signer can take: no NUL, no lone surrogate (UTF-8 cannot encode it)."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode()
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (no lone surrogates)") from None
    return value


def _storable_secret(value: SecretStr) -> SecretStr:
    _storable(value.get_secret_value())
    return value


Text = Annotated[str, AfterValidator(_storable)]
SecretText = Annotated[SecretStr, AfterValidator(_storable_secret)]

# Database sessions run in UTC (db-core), so times read there are UTC datetimes, which pydantic
# writes natively as ISO 8601 with ``Z``; no Python conversion per value.
UtcDateTime = AwareDatetime
# Plain digits, never an exponent (str(Decimal("0.00000001")) is "1E-8"): Decimal.__format__ with
# "f", called through methodcaller so that no Python frame runs per value.
DecimalString = Annotated[Decimal, PlainSerializer(methodcaller("__format__", "f"), return_type=str)]


class Live(BaseModel):
    status: Literal["ok"] = "ok"


class CheckOut(BaseModel):
    ok: bool
    required: bool = Field(
        description="the service cannot serve without it; when only checks not required fail, "
        "readiness answers 200 with status degraded"
    )
    latency_ms: float
    error: str | None = None


Status = Literal["ready", "degraded", "unavailable"]


class ReadyStatus(BaseModel):
    """Readiness as anyone may see it: the status alone."""

    status: Status


class Ready(ReadyStatus):
    """Readiness as an operator sees it: every check's outcome too."""

    checks: dict[str, CheckOut]


class Meta(BaseModel):
    service: str
    version: str
    environment: str
    bybit_network: str
    bybit_api_url: str


class Instrument(BaseModel):
    category: str
    symbol: str
    status: str
    base_coin: str
    quote_coin: str
    tick_size: DecimalString | None
    qty_step: DecimalString | None
    min_order_qty: DecimalString | None
    max_order_qty: DecimalString | None
    min_notional: DecimalString | None
    launch_time: UtcDateTime | None
    first_seen_at: UtcDateTime
    updated_at: UtcDateTime
    delisted_at: UtcDateTime | None


class InstrumentPage(BaseModel):
    items: list[Instrument]
    next_cursor: str | None


class Kline(BaseModel):
    start_time: UtcDateTime
    open: DecimalString
    high: DecimalString
    low: DecimalString
    close: DecimalString
    volume: DecimalString
    turnover: DecimalString


class KlineList(BaseModel):
    category: str
    symbol: str
    interval: str
    items: list[Kline]


class TaskAccepted(BaseModel):
    task_id: str
    existing: bool = Field(False, description="the same sync was pending already: this is its task")


class AttemptError(BaseModel):
    at: UtcDateTime
    error: str = Field(
        description="what the attempt said, in words: Bybit's answer, our refusal, or only the kind of "
        "failure (its details are in the worker's log)"
    )


class SyncRunState(BaseModel):
    """A sync's record in the general database: one for the whole sync, however many chunks,
    retries and workers it took."""

    status: str = Field(json_schema_extra={"enum": list(SYNC_STATUSES)})
    rows: int = Field(description="rows written so far")
    failed_attempts: int = Field(description="attempts that failed: errors (retried or not), workers lost")
    attempt_errors: list[AttemptError] = Field(
        description=f"what the newest {MAX_ATTEMPT_ERRORS} failed attempts said, oldest first"
    )
    waiting: str | None = Field(
        description="what the running sync waits for, in words (Bybit's call budget holding every call, "
        "after a ban or a spent limit); null when it is not waiting"
    )
    started_at: UtcDateTime
    finished_at: UtcDateTime | None


class TaskStatus(BaseModel):
    task_id: str
    state: Literal["pending", "running", "succeeded", "failed"]
    result: Any | None = None
    error: str | None = None
    sync: SyncRunState | None = Field(None, description="the sync's record; null until a worker starts it")
