"""The tasks, by the names of the contract in ``db_general.task_contract``; the work is in ``syncing``.

A sync task runs one chunk (at most ``SYNC_CHUNK_SECONDS`` of work); when the sync is not done,
the task is replaced by its next chunk (Celery's ``replace``: the same task id, so the caller
follows one task and the sync keeps one ``sync_runs`` row). A Bybit outage or rate limit the
client's own short retries could not ride out is retried by Celery with a growing countdown
(``SYNC_RETRY_BACKOFF`` doubled each time, ``SYNC_RETRY_MAX`` times, never longer than the
visibility timeout allows); the worker is free for other tasks meanwhile. While the shared Bybit
call budget holds every call (a ban: Bybit's HTTP 403 pauses every process for ``BYBIT_BAN_PAUSE``),
nothing is wrong with the sync: its task waits the ban out instead, retried when the budget
allows again (or after the longest countdown, then waits again), each wait neither counted as a
failed attempt nor against ``SYNC_RETRY_MAX``, its ``sync_runs`` row saying it waits for the ban
to lift; a sync waits so at most ``BUDGET_WAIT_PAUSES`` ban pauses in all, then fails saying so.
Anything else fails the task at once with a message saying what was asked and what went wrong,
also recorded in ``sync_runs``. A task whose worker died under it ``WORKER_MAX_DELIVERIES`` times
is set aside (``deliveries``).

Beside the contract's arguments, a sync task takes two of the worker's own, which its next chunk
or retry carries on: ``progress`` (what the previous chunks did) and ``budget_waits`` (how its
retries waited for the call budget).
"""

import random
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any, Unpack, cast

from celery import Task, shared_task
from celery.exceptions import Ignore
from celery.states import READY_STATES

from bybit_client import (
    BybitBudgetError,
    BybitClient,
    BybitError,
    BybitRateLimitError,
    CallBudget,
    RetryPolicy,
)
from core_config import Settings, bind_log_context, get_logger
from core_telemetry import telemetry
from db_general import (
    PING,
    SYNC_INSTRUMENTS,
    SYNC_KLINES,
    TASK_ARGUMENTS,
    SyncInstrumentsArgs,
    SyncKlinesArgs,
    finish_sync_run,
    start_sync_run,
)
from worker_service.celery_app import WorkerApp
from worker_service.deliveries import dead_letter_key
from worker_service.syncing import (
    Continuation,
    SyncContext,
    SyncOutcome,
    SyncRequestError,
    describe_error,
    instruments_chunk,
    klines_chunk,
)
from worker_service.timing import max_retry_countdown

logger = get_logger(__name__)
MAX_COUNTDOWN = 600.0
# A sync waits for the call budget at most this many ban pauses (BYBIT_BAN_PAUSE) in all: a ban
# met again right after the first one lifts is waited out too; a budget that never lets calls go
# again ends the sync as failed.
BUDGET_WAIT_PAUSES = 2
# After the budget's pause is over: its key has expired in Redis when the retry asks again.
BUDGET_WAIT_MARGIN = 0.5
# The client rides out short blips itself; longer outages are Celery's retries, which free the worker.
CLIENT_RETRY = RetryPolicy(max_attempts=3, max_total_seconds=15.0, max_rate_limit_wait=5.0)


class SyncFailedError(Exception):
    """A sync that cannot succeed by retrying (a bad symbol, a refused request) or ran out of retries."""


class TaskSetAsideError(Exception):
    """A task whose worker died under it too many times; it is on the dead-letter list, not run."""


def retry_countdown(settings: Settings, retries: int, error: BybitError) -> float:
    """Seconds before retry ``retries + 1``: exponential, jittered, at least until a rate limit resets.

    Never longer than the visibility timeout allows: a waiting retry is held unacknowledged.
    """
    countdown = settings.sync_retry_backoff * 2**retries * (0.8 + 0.4 * random.random())  # noqa: S311
    if isinstance(error, BybitRateLimitError) and error.reset_at is not None:
        countdown = max(countdown, error.reset_at.timestamp() - time.time())
    return float(min(countdown, MAX_COUNTDOWN, max_retry_countdown(settings)))


def budget_hold(settings: Settings, error: BaseException) -> float | None:
    """Seconds until the shared call budget lets calls go again, when ``error`` is the budget holding
    every call (``BybitBudgetError``) or the ban that made it hold them (HTTP 403: the client paused
    the budget for ``BYBIT_BAN_PAUSE``); None for any other error."""
    if isinstance(error, BybitBudgetError):
        return error.retry_after
    if isinstance(error, BybitRateLimitError) and error.http_status == 403:
        return settings.bybit_ban_pause
    return None


def budget_wait_countdown(settings: Settings, waited: float, error: BaseException) -> float | None:
    """The countdown of the retry that waits for the budget, when ``error`` is the budget's hold and
    the sync, having waited ``waited`` seconds for it so far, may wait that long more; else None.

    Never longer than the visibility timeout allows: a longer hold is waited out in several retries.
    """
    hold = budget_hold(settings, error)
    if hold is None:
        return None
    countdown = min(hold + BUDGET_WAIT_MARGIN, MAX_COUNTDOWN, max_retry_countdown(settings))
    if waited + countdown > budget_wait_limit(settings):
        return None
    return countdown


def budget_wait_limit(settings: Settings) -> float:
    """Seconds a sync may wait for the call budget in all: ``BUDGET_WAIT_PAUSES`` whole bans, each
    with the margin its last retry adds."""
    return BUDGET_WAIT_PAUSES * (settings.bybit_ban_pause + BUDGET_WAIT_MARGIN)


def check_request(name: str, request: Mapping[str, Any]) -> None:
    """Refuse a message whose arguments are not those the contract declares for task ``name``: a
    misspelt key would otherwise be ignored and a missing one fail deep in the sync."""
    declared = TASK_ARGUMENTS[name]
    unknown = sorted(set(request) - set(declared.__annotations__))
    missing = sorted(set(declared.__required_keys__) - set(request))  # type: ignore[attr-defined]
    problems = [f"unknown {', '.join(unknown)}"] if unknown else []
    problems += [f"missing {', '.join(missing)}"] if missing else []
    if problems:
        raise SyncRequestError(f"{name}: arguments not in the contract: {'; '.join(problems)}")


def _app(task: Task[Any, Any]) -> WorkerApp:
    return cast(WorkerApp, task.app)


def bybit_client(settings: Settings, budget: CallBudget) -> BybitClient:
    """A client for Bybit's public market data on the configured network (no key needed), holding
    the process's share of the call budget."""
    return BybitClient(
        settings.bybit_api_url,
        timeout=settings.bybit_timeout,
        recv_window=settings.bybit_recv_window,
        retry=CLIENT_RETRY,
        ca_file=settings.bybit_ca_file,
        observer=telemetry().bybit_observer(),
        budget=budget,
    )


@dataclass(frozen=True)
class BudgetWaits:
    """How many of a sync task's retries waited for the call budget, and how long in all (the
    task's ``budget_waits`` argument, the worker's own)."""

    times: int = 0
    seconds: float = 0.0

    @classmethod
    def of(cls, passed: dict[str, Any] | None) -> "BudgetWaits":
        return cls(int((passed or {}).get("times", 0)), float((passed or {}).get("seconds", 0.0)))

    def failed_attempts(self, task: Task[Any, Any]) -> int:
        """The task's retries that followed a failure (the others waited for the budget)."""
        return max(0, task.request.retries - self.times)


def _will_retry(task: Task[Any, Any], settings: Settings, waits: BudgetWaits, exc: BaseException) -> bool:
    """Whether ``exc`` is followed by a retry: a wait for the call budget while the sync may still
    wait, or a failure worth retrying while failed attempts are left. A hold past the longest wait
    ends the sync, as ``_run_sync`` does."""
    if budget_hold(settings, exc) is not None:
        return budget_wait_countdown(settings, waits.seconds, exc) is not None
    return (
        isinstance(exc, BybitError)
        and exc.retryable
        and waits.failed_attempts(task) < settings.sync_retry_max
    )


@contextmanager
def _sync_context(task: Task[Any, Any], worker_deaths: int, waits: BudgetWaits) -> Iterator[SyncContext]:
    app = _app(task)
    settings = app.settings
    with bybit_client(settings, app.bybit_budget) as client:
        yield SyncContext(
            database=app.general_db,
            client=client,
            task_id=task.request.id,
            chunk_seconds=settings.sync_chunk_seconds,
            will_retry=partial(_will_retry, task, settings, waits),
            waits_for_budget=lambda exc: budget_wait_countdown(settings, waits.seconds, exc) is not None,
            worker_deaths=worker_deaths,
        )


def _wait_for_budget(
    task: Task[Any, Any], waits: BudgetWaits, countdown: float, exc: BybitError
) -> Exception:
    """The retry that waits for the call budget: not a failed attempt (``max_retries`` grows by it),
    and no expiry (a sync the API sent has started; the ban is not its lateness)."""
    settings = _app(task).settings
    logger.warning(
        "waiting for Bybit's call budget, which holds every call; the task waits for a retry",
        reason=exc.ret_msg,
        retry_in=round(countdown, 1),
        waited=round(waits.seconds, 1),
    )
    kwargs = dict(task.request.kwargs or {})
    kwargs["budget_waits"] = {"times": waits.times + 1, "seconds": waits.seconds + countdown}
    # Celery takes expires=None as "no expiry" (its type hints leave None out).
    no_expiry: dict[str, Any] = {"expires": None}
    return task.retry(
        kwargs=kwargs,
        exc=exc,
        countdown=countdown,
        max_retries=settings.sync_retry_max + waits.times + 1,
        **no_expiry,
    )


def _set_aside_error(app: WorkerApp, deaths: int) -> TaskSetAsideError:
    """What a task set aside fails with, the first time and for every copy of it that comes later."""
    dead_letters = dead_letter_key(app.settings.celery_queue)
    return TaskSetAsideError(
        f"set aside: its worker died under it {deaths} times "
        f"(WORKER_MAX_DELIVERIES); its message is on the Redis list {dead_letters}"
    )


def _set_aside(task: Task[Any, Any], what: dict[str, Any], deaths: int) -> TaskSetAsideError:
    """Put the task on the dead-letter list, close its ``sync_runs`` row, say so in the log."""
    app = _app(task)
    task_id = str(task.request.id)
    error = _set_aside_error(app, deaths)
    app.deliveries.set_aside(task_id, task.name, dict(task.request.kwargs or {}), deaths)
    with app.general_db.sync_session() as session:
        run_id = start_sync_run(session, task_id=task_id, **what)
    with app.general_db.sync_session() as session:
        finish_sync_run(session, run_id, status="failed", error=str(error))
    # The task's id and name are already on every line of this context.
    dead_letters = dead_letter_key(app.settings.celery_queue)
    logger.error("task set aside", worker_deaths=deaths, dead_letter=dead_letters)
    return error


def _run_sync(
    task: Task[Any, Any],
    what: str,
    record: dict[str, Any],
    chunk: Callable[[SyncContext], SyncOutcome[Any]],
    waits: BudgetWaits,
) -> dict[str, Any]:
    """Run one chunk; hand the rest to the next message, turn Bybit's errors into a retry or a failure."""
    app = _app(task)
    settings = app.settings
    task_id = str(task.request.id)
    # The request that sent the task (the API puts its id in the message headers), if any.
    sent_by = getattr(task.request, "request_id", None)
    fields = {"request_id": sent_by} if isinstance(sent_by, str) else {}
    with bind_log_context(**fields, task_id=task_id, task=task.name):
        if task.AsyncResult(task_id).state in READY_STATES:
            # A copy of an earlier chunk, redelivered after its worker died between handing on
            # the next chunk and acknowledging its own: the sync it belongs to has ended.
            logger.info("stale copy of a finished sync dropped")
            raise Ignore
        set_aside_after = app.deliveries.set_aside_after(task_id)
        if set_aside_after is not None:
            # Its result said so until this copy's start marked it started (Celery keeps only a
            # success from being overwritten): failing again with the same error says it once more.
            logger.warning("copy of a set-aside task dropped", worker_deaths=set_aside_after)
            raise _set_aside_error(app, set_aside_after)
        deaths = app.deliveries.begin(task_id)
        if deaths >= settings.worker_max_deliveries:
            raise _set_aside(task, record, deaths)
        try:
            with _sync_context(task, deaths, waits) as context:
                outcome = chunk(context)
        except BybitError as exc:
            wait = budget_wait_countdown(settings, waits.seconds, exc)
            if wait is not None:
                raise _wait_for_budget(task, waits, wait, exc) from exc
            if budget_hold(settings, exc) is not None:
                limit = budget_wait_limit(settings)
                reason = f"Bybit's call budget holds every call longer than a sync waits ({limit:.0f} s)"
                raise SyncFailedError(f"{what}: {reason}: {describe_error(exc)}") from exc
            if _will_retry(task, settings, waits, exc):
                failed = waits.failed_attempts(task)
                countdown = retry_countdown(settings, failed, exc)
                max_retries = settings.sync_retry_max + waits.times
                raise task.retry(exc=exc, countdown=countdown, max_retries=max_retries) from exc
            reason = "Bybit kept failing" if exc.retryable else "Bybit refused the request"
            raise SyncFailedError(f"{what}: {reason}: {describe_error(exc)}") from exc
        finally:
            app.deliveries.end(task_id)
    if isinstance(outcome, Continuation):
        # The next chunk carries on the time waited for the budget (its own retries start at 0).
        carried = {"budget_waits": {"seconds": waits.seconds}} if waits.seconds else {}
        raise task.replace(task.signature(kwargs={**outcome.kwargs, **carried}))
    return outcome


@shared_task(name=PING)
def ping() -> str:
    """A no-op: proves a worker consumes the queue and the result backend answers."""
    return "pong"


@shared_task(bind=True, name=SYNC_INSTRUMENTS)
def sync_instruments_task(
    self: Task[Any, Any],
    progress: dict[str, Any] | None = None,
    budget_waits: dict[str, Any] | None = None,
    **request: Unpack[SyncInstrumentsArgs],
) -> dict[str, Any]:
    """Upsert the instruments of the category asked (None: every category), delisting those gone."""
    check_request(SYNC_INSTRUMENTS, request)
    category = request["category"]
    return _run_sync(
        self,
        f"instruments {category or 'all'}",
        {"kind": "instruments", "category": category},
        lambda context: instruments_chunk(context, request, progress),
        BudgetWaits.of(budget_waits),
    )


@shared_task(bind=True, name=SYNC_KLINES)
def sync_klines_task(
    self: Task[Any, Any],
    progress: dict[str, Any] | None = None,
    budget_waits: dict[str, Any] | None = None,
    **request: Unpack[SyncKlinesArgs],
) -> dict[str, Any]:
    """Backfill the candles of [start_ms, end_ms] (without them: from the newest stored to now)."""
    check_request(SYNC_KLINES, request)
    series = {key: request[key] for key in ("category", "symbol", "interval")}
    return _run_sync(
        self,
        "klines {category} {symbol} {interval}".format(**series),
        {"kind": "klines", **series},
        lambda context: klines_chunk(context, request, progress),
        BudgetWaits.of(budget_waits),
    )
