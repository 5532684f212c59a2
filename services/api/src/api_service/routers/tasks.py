"""Enqueueing market-data syncs on the worker and reading their state."""

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, status
from pydantic import AwareDatetime, BaseModel, Field, model_validator

from api_service.dependencies import (
    GeneralDatabase,
    Operator,
    OperatorToken,
    ResourcesDep,
    SettingsDep,
    UserSession,
)
from api_service.errors import ApiError, error_responses
from api_service.route_policy import RateLimitGroup, limited
from api_service.schemas import Symbol, SyncRunState, TaskAccepted, TaskStatus, UtcDateTime
from api_service.task_queue import TaskQueueUnavailableError, TooManyPendingError
from bybit_client import Category, Interval, KlineCategory, datetime_to_ms
from db_general import Series, get_sync_run_state, series_holes
from db_user import record_audit, token_actor
from worker_contract import SYNC_INSTRUMENTS, SYNC_KLINES, SyncInstrumentsArgs, SyncKlinesArgs

router = APIRouter(tags=["tasks"])


class SyncInstruments(BaseModel):
    kind: Literal["instruments"]
    category: Category | None = Field(None, description="all categories when absent")


class SyncKlines(BaseModel):
    kind: Literal["klines"]
    category: KlineCategory
    symbol: Symbol
    interval: Interval
    start: AwareDatetime
    end: AwareDatetime

    @model_validator(mode="after")
    def _ordered(self) -> "SyncKlines":
        if self.start >= self.end:
            raise ValueError("start must be before end")
        if self.end > datetime.now(UTC):
            raise ValueError("end must not be in the future")
        return self

    def candles(self) -> int:
        """How many candles the range covers (a month counted as 28 days: the most candles)."""
        length = self.interval.milliseconds or 28 * 86_400_000
        return int((self.end - self.start) / timedelta(milliseconds=length)) + 1


SyncRequest = Annotated[SyncInstruments | SyncKlines, Field(discriminator="kind")]


_UNAVAILABLE = ApiError(503, "task_queue_unavailable", "the task queue (Redis) is not answering; try again")


@router.post(
    "/v1/market/sync",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Enqueue a sync of instruments or klines from Bybit (operator scope)",
    description=(
        "A klines sync covers at most SYNC_MAX_CANDLES candles (10,000 by default) and ends no later "
        "than now. The same sync asked again while it is pending gives that task (`existing`). A sync "
        "not started within SYNC_REQUEST_EXPIRES seconds is dropped; at most SYNC_MAX_PENDING "
        "requested syncs are queued or running at once (429 past that), so the scheduled syncs "
        "always find a worker."
    ),
    responses=error_responses(401, 403, 422, 429, 503),
    openapi_extra=limited(RateLimitGroup.OPERATOR),
)
async def enqueue_sync(
    request: SyncRequest,
    resources: ResourcesDep,
    settings: SettingsDep,
    token: OperatorToken,
    session: UserSession,
    http: Request,
) -> TaskAccepted:
    name: str
    kwargs: SyncInstrumentsArgs | SyncKlinesArgs
    if isinstance(request, SyncKlines) and request.candles() > settings.sync_max_candles:
        message = f"the range holds {request.candles()} candles; at most {settings.sync_max_candles} per sync"
        raise ApiError(422, "sync_too_large", message)
    if isinstance(request, SyncInstruments):
        name, kwargs = SYNC_INSTRUMENTS, SyncInstrumentsArgs(category=request.category)
    else:
        name = SYNC_KLINES
        kwargs = SyncKlinesArgs(
            category=request.category,
            symbol=request.symbol,
            interval=request.interval,
            start_ms=datetime_to_ms(request.start),
            end_ms=datetime_to_ms(request.end),
        )
    try:
        sent = await resources.tasks.send(name, kwargs)
    except TaskQueueUnavailableError:
        raise _UNAVAILABLE from None
    except TooManyPendingError:
        message = (
            f"{settings.sync_max_pending} requested syncs are pending already; try again when one is done"
        )
        raise ApiError(429, "too_many_pending_syncs", message, headers={"Retry-After": "30"}) from None
    # Recorded once it is queued (the session commits as the route returns): who asked, from where.
    await record_audit(
        session,
        actor=token_actor(token.id),
        token_id=token.id,
        address=http.client.host if http.client else None,
        action="market.sync",
        subject=f"task:{sent.task_id}",
        details={**request.model_dump(mode="json"), "existing": sent.existing},
    )
    return TaskAccepted(task_id=sent.task_id, existing=sent.existing)


@router.get(
    "/v1/tasks/{task_id}",
    summary="A sync task's state and result (operator scope)",
    description=(
        "The task's state in the queue, and under `sync` the sync's record in the general database: "
        "its status, the rows written so far, its failed attempts (how many, and what the newest "
        "said, in words, with their times) and what a running sync waits for (Bybit's call budget). "
        "503 when Redis or the general database does not answer."
    ),
    responses=error_responses(401, 403, 404, 422, 503),
    openapi_extra=limited(RateLimitGroup.OPERATOR),
)
async def task_status(
    task_id: Annotated[str, Path(pattern=r"^[0-9a-f-]{36}$")],
    resources: ResourcesDep,
    general: GeneralDatabase,
    _: Operator,
) -> TaskStatus:
    try:
        info = await resources.tasks.info(task_id)
    except TaskQueueUnavailableError:
        raise _UNAVAILABLE from None
    if info is None:
        raise ApiError(404, "task_not_found", f"no task {task_id} (unknown, or its result has expired)")
    async with general.reads() as connection:
        run = await get_sync_run_state(connection, task_id)
    sync = None if run is None else SyncRunState.model_validate(run)
    return TaskStatus(task_id=task_id, state=info.state, result=info.result, error=info.error, sync=sync)


# A year of 1-minute candles and some: one query over the key answers it in a fraction of a second.
MAX_HOLE_CANDLES = 600_000


class HolesQuery(BaseModel):
    """The series and range whose holes an operator asks for; ``start`` and ``end`` inclusive."""

    category: KlineCategory
    symbol: Symbol
    interval: Interval
    start: AwareDatetime
    end: AwareDatetime

    @model_validator(mode="after")
    def _ordered(self) -> "HolesQuery":
        if self.start > self.end:
            raise ValueError("start must not be after end")
        return self


class HoleOut(BaseModel):
    first_start: UtcDateTime = Field(description="the first missing candle's start")
    last_start: UtcDateTime = Field(description="the last missing candle's start")
    candles: int


class RepairOut(BaseModel):
    task_id: str | None
    range_start: UtcDateTime | None = Field(description="null: the sync covers the last closed candles")
    range_end: UtcDateTime | None
    rows: int = Field(description="rows written so far")
    started_at: UtcDateTime


class SeriesHolesOut(BaseModel):
    category: KlineCategory
    symbol: str
    interval: Interval
    first_start: UtcDateTime = Field(description="the range's first candle (start, rounded up)")
    last_start: UtcDateTime = Field(description="the range's last closed candle (end, rounded down)")
    candles: int = Field(description="candles the range holds")
    missing: int = Field(description="candles missing that a sync would fetch (`holes`)")
    holes: list[HoleOut] = Field(description="missing candles a sync fetches, oldest first")
    exchange_gaps: list[HoleOut] = Field(
        description="missing candles the exchange had none of when asked (a halted market, the time "
        "before a listing): left out of the automatic syncs; a klines sync of the range asks again"
    )
    repairs: list[RepairOut] = Field(description="the klines syncs of the series running now")


@router.get(
    "/v1/market/klines/holes",
    summary="The missing candles of a stored series over a range, and its running repairs (operator scope)",
    description=(
        "Found from what is stored (the table's key), over at most 600,000 candles. To fill them, "
        "`POST /v1/market/sync` a klines sync of the range: it fetches exactly the holes, the "
        "exchange's recorded gaps included."
    ),
    response_model=SeriesHolesOut,
    responses=error_responses(401, 403, 422, 503),
    openapi_extra=limited(RateLimitGroup.OPERATOR),
)
async def series_holes_of(
    query: Annotated[HolesQuery, Query()], general: GeneralDatabase, _: Operator
) -> SeriesHolesOut:
    interval = query.interval
    first = interval.ceil(query.start)
    last = min(interval.floor(query.end), interval.last_closed(datetime.now(UTC)))
    candles = interval.candles(first, last)
    if candles > MAX_HOLE_CANDLES:
        message = f"the range holds {candles} candles; at most {MAX_HOLE_CANDLES} per question"
        raise ApiError(422, "range_too_large", message)
    series = Series(query.category, query.symbol, interval)
    async with general.reads() as connection:
        seen = await connection.run_sync(series_holes, series, first, last)
    return SeriesHolesOut(
        category=query.category,
        symbol=query.symbol,
        interval=interval,
        first_start=first,
        last_start=last,
        candles=candles,
        missing=sum(hole.candles for hole in seen.holes),
        holes=[HoleOut.model_validate(hole, from_attributes=True) for hole in seen.holes],
        exchange_gaps=[HoleOut.model_validate(hole, from_attributes=True) for hole in seen.exchange_gaps],
        repairs=[RepairOut.model_validate(repair, from_attributes=True) for repair in seen.repairs],
    )
