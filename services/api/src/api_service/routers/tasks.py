"""Enqueueing market-data syncs on the worker and reading their state."""

from typing import Annotated, Literal

from fastapi import APIRouter, Path, status
from pydantic import AwareDatetime, BaseModel, Field, model_validator

from api_service.dependencies import Operator, ResourcesDep
from api_service.errors import ApiError, error_responses
from api_service.schemas import Symbol, TaskAccepted, TaskStatus
from api_service.task_queue import TaskQueueUnavailableError
from bybit_client import Category, Interval, KlineCategory, datetime_to_ms
from db_general import SYNC_INSTRUMENTS, SYNC_KLINES, SyncInstrumentsArgs, SyncKlinesArgs

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
        return self


SyncRequest = Annotated[SyncInstruments | SyncKlines, Field(discriminator="kind")]


_UNAVAILABLE = ApiError(503, "task_queue_unavailable", "the task queue (Redis) is not answering; try again")


@router.post(
    "/v1/market/sync",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Enqueue a sync of instruments or klines from Bybit (operator scope)",
    responses=error_responses(401, 403, 422, 503),
)
async def enqueue_sync(request: SyncRequest, resources: ResourcesDep, _: Operator) -> TaskAccepted:
    name: str
    kwargs: SyncInstrumentsArgs | SyncKlinesArgs
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
        task_id = await resources.tasks.send(name, kwargs)
    except TaskQueueUnavailableError:
        raise _UNAVAILABLE from None
    return TaskAccepted(task_id=task_id)


@router.get(
    "/v1/tasks/{task_id}",
    summary="A sync task's state and result (operator scope)",
    responses=error_responses(401, 403, 404, 422, 503),
)
async def task_status(
    task_id: Annotated[str, Path(pattern=r"^[0-9a-f-]{36}$")], resources: ResourcesDep, _: Operator
) -> TaskStatus:
    try:
        info = await resources.tasks.info(task_id)
    except TaskQueueUnavailableError:
        raise _UNAVAILABLE from None
    if info is None:
        raise ApiError(404, "task_not_found", f"no task {task_id} (unknown, or its result has expired)")
    return TaskStatus(task_id=task_id, state=info.state, result=info.result, error=info.error)
