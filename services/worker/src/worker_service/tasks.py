"""The tasks, by the names of the contract in ``worker_contract``; the work is in ``syncing``, what
happens around it in ``SyncTask``, the base class of every sync task.

A sync task runs one chunk (at most ``SYNC_CHUNK_SECONDS`` of work); when the sync is not done,
the task is replaced by its next chunk (Celery's ``replace``: the same task id, so the caller
follows one task and the sync keeps one ``sync_runs`` row). Whatever a chunk raises is judged by
one table, ``RULES`` (``decide``): waited out, retried, or the end of the sync; ``SyncTask`` then
says so on the sync's row and does it. Around every run it also keeps the sync's row and its
message apart from copies: a copy of a sync that has ended (its row closed) does nothing, and a
task whose worker died under it ``WORKER_MAX_DELIVERIES`` times is set aside (``deliveries``).

A new kind of sync declares a ``syncing.SyncKind`` (its row's scope and its chunk) and a task of
three lines calling ``self.sync``.

Beside the contract's arguments, a sync task takes two of the worker's own, which its next chunk
or retry carries on: ``progress`` (what the previous chunks did) and ``budget_waits`` (how its
retries waited for the call budget).
"""

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any, Unpack, cast

from celery import Task, shared_task
from celery.exceptions import Ignore

from bybit_client import (
    BybitBudgetError,
    BybitClient,
    BybitError,
    BybitRateLimitError,
    CallBudget,
    RetryPolicy,
)
from bybit_client.telemetry import call_observer
from core_config import Settings, bind_log_context, get_logger
from core_telemetry import telemetry
from db_core import means_unavailable
from db_general import close_abandoned_sync_runs, note_sync_run_waiting, record_attempt_error, sync_run_status
from worker_contract import (
    PING,
    SWEEP_SYNC_RUNS,
    SYNC_INSTRUMENTS,
    SYNC_KLINES,
    TASK_ARGUMENTS,
    SyncInstrumentsArgs,
    SyncKlinesArgs,
)
from worker_service.celery_app import WorkerApp
from worker_service.deliveries import dead_letter_key
from worker_service.syncing import (
    INSTRUMENTS,
    KLINES,
    Continuation,
    Request,
    SyncContext,
    SyncKind,
    SyncRequestError,
    close_run,
    describe_error,
    fail_run,
    open_run,
)
from worker_service.timing import abandoned_after, max_retry_countdown

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

# What a waiting run's row says while the Bybit call budget holds every call (after a ban, or a
# limit spent for longer than a call may wait).
BUDGET_WAIT = "waiting for Bybit's call budget, which holds every call; retried when it lets calls go"
# What a failed attempt says when its worker died under it (the process killed or its instance lost).
WORKER_LOST = "the worker running this chunk stopped before it ended (killed or lost); run again"


class SyncFailedError(Exception):
    """A sync that cannot succeed by retrying (a bad symbol, a refused request) or ran out of retries."""


class TaskSetAsideError(Exception):
    """A task whose worker died under it too many times; it is on the dead-letter list, not run."""


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


def bybit_client(settings: Settings, budget: CallBudget) -> BybitClient:
    """A client for Bybit's public market data on the configured network (no key needed), holding
    the process's share of the call budget."""
    return BybitClient(
        settings.bybit_api_url,
        timeout=settings.bybit_timeout,
        recv_window=settings.bybit_recv_window,
        retry=CLIENT_RETRY,
        ca_file=settings.bybit_ca_file,
        observer=call_observer() if telemetry().plan.enabled else None,
        budget=budget,
    )


# -- the decisions: what happens after a chunk raised ------------------------------------------------


@dataclass(frozen=True)
class BudgetWaits:
    """How many of a sync task's retries waited for the call budget, and how long in all (the
    task's ``budget_waits`` argument, the worker's own)."""

    times: int = 0
    seconds: float = 0.0

    @classmethod
    def of(cls, passed: Mapping[str, Any] | None) -> "BudgetWaits":
        return cls(int((passed or {}).get("times", 0)), float((passed or {}).get("seconds", 0.0)))


@dataclass(frozen=True)
class Situation:
    """What ``decide`` knows of a failed chunk: the error, and how the sync has fared so far."""

    error: Exception
    failed_attempts: int  # the task's retries that followed a failure, this one not counted
    waited: float  # seconds its retries waited for the call budget so far
    settings: Settings

    @property
    def hold(self) -> float | None:
        """Seconds until the shared call budget lets calls go again, when the error is the budget
        holding every call (``BybitBudgetError``) or the ban that made it hold them (HTTP 403: the
        client paused the budget for ``BYBIT_BAN_PAUSE``); None for any other error."""
        if isinstance(self.error, BybitBudgetError):
            return self.error.retry_after
        if isinstance(self.error, BybitRateLimitError) and self.error.http_status == 403:
            return self.settings.bybit_ban_pause
        return None

    @property
    def budget_countdown(self) -> float:
        """The retry's wait for the budget: its hold, never past what the visibility timeout allows
        (a longer hold is waited out in several retries)."""
        return min((self.hold or 0.0) + BUDGET_WAIT_MARGIN, MAX_COUNTDOWN, max_retry_countdown(self.settings))

    @property
    def may_wait(self) -> bool:
        return self.waited + self.budget_countdown <= budget_wait_limit(self.settings)

    @property
    def passing(self) -> bool:
        """An outage that may pass: Bybit's (retryable errors) or the database's (``means_unavailable``)."""
        if isinstance(self.error, BybitError):
            return self.error.retryable
        return means_unavailable(self.error)

    @property
    def retries_left(self) -> bool:
        return self.failed_attempts < self.settings.sync_retry_max


class Verdict(Enum):
    WAIT = "retried when the call budget lets calls go; not a failed attempt; the row says it waits"
    RETRY = "retried after a growing countdown; a failed attempt on the row"
    FAIL = "the end of the sync: a failed attempt, and the row closed as failed"


@dataclass(frozen=True)
class Rule:
    when: str
    applies: Callable[[Situation], bool]
    verdict: Verdict


# Read top down: the first rule that applies decides.
RULES: tuple[Rule, ...] = (
    Rule(
        "Bybit's call budget holds every call, and the sync has waited less than it may",
        lambda s: s.hold is not None and s.may_wait,
        Verdict.WAIT,
    ),
    Rule(
        "Bybit's call budget holds every call for longer than a sync waits",
        lambda s: s.hold is not None,
        Verdict.FAIL,
    ),
    Rule(
        "Bybit or the database failed in a way that may pass, with retries left (SYNC_RETRY_MAX)",
        lambda s: s.passing and s.retries_left,
        Verdict.RETRY,
    ),
    Rule("Bybit or the database kept failing through every retry", lambda s: s.passing, Verdict.FAIL),
    Rule(
        "anything else: Bybit refused the request, a request that cannot be done, a bug",
        lambda _: True,
        Verdict.FAIL,
    ),
)


def decide(situation: Situation) -> Rule:
    """The rule of ``RULES`` that decides what follows the error."""
    return next(rule for rule in RULES if rule.applies(situation))


def budget_wait_limit(settings: Settings) -> float:
    """Seconds a sync may wait for the call budget in all: ``BUDGET_WAIT_PAUSES`` whole bans, each
    with the margin its last retry adds."""
    return BUDGET_WAIT_PAUSES * (settings.bybit_ban_pause + BUDGET_WAIT_MARGIN)


def retry_countdown(settings: Settings, retries: int, error: Exception) -> float:
    """Seconds before retry ``retries + 1``: exponential, jittered, at least until a rate limit resets.

    Never longer than the visibility timeout allows: a waiting retry is held unacknowledged.
    """
    countdown = settings.sync_retry_backoff * 2**retries * (0.8 + 0.4 * random.random())  # noqa: S311
    if isinstance(error, BybitRateLimitError) and error.reset_at is not None:
        countdown = max(countdown, error.reset_at.timestamp() - time.time())
    return float(min(countdown, MAX_COUNTDOWN, max_retry_countdown(settings)))


def attempt_words(error: BaseException) -> str:
    """What a failed attempt says on its ``sync_runs`` row, for operators: Bybit's answer and our own
    refusals in full (they name no host and carry no secret); anything else (a database error names
    its server, a statement its parameters) only by its kind, the details being in the log."""
    if isinstance(error, BybitError | SyncRequestError):
        return describe_error(error)
    return f"{type(error).__name__} (details in the worker's log)"


def _failure(what: str, situation: Situation) -> SyncFailedError:
    """The error a sync ends with, in words the API may show (``attempt_words``)."""
    error = situation.error
    if situation.hold is not None:
        limit = budget_wait_limit(situation.settings)
        reason = f"Bybit's call budget holds every call longer than a sync waits ({limit:.0f} s)"
    elif isinstance(error, BybitError):
        reason = "Bybit kept failing" if error.retryable else "Bybit refused the request"
    elif isinstance(error, SyncRequestError):
        reason = "the request cannot be done"
    else:
        reason = "the database did not answer" if means_unavailable(error) else "the worker failed"
    return SyncFailedError(f"{what}: {reason}: {attempt_words(error)}")


# -- the base class -----------------------------------------------------------------------------------


class SyncTask(Task):  # type: ignore[type-arg]
    """The base of every sync task: the row, the copies, the deliveries and the decisions."""

    @property
    def worker(self) -> WorkerApp:
        return cast(WorkerApp, self.app)

    def sync(
        self,
        sync: SyncKind[Request],
        request: Request,
        progress: dict[str, Any] | None,
        budget_waits: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        """Run the next chunk of ``sync``; hand the rest on, or judge what it raised."""
        task_id = str(self.request.id)
        # The request that sent the task (the API puts its id in the message headers), if any.
        sent_by = getattr(self.request, "request_id", None)
        fields = {"request_id": sent_by} if isinstance(sent_by, str) else {}
        with bind_log_context(**fields, task_id=task_id, task=self.name):
            return self._sync(sync, request, progress, BudgetWaits.of(budget_waits), task_id)

    def _context(self, task_id: str, client: BybitClient) -> SyncContext:
        return SyncContext(
            database=self.worker.general_db,
            client=client,
            task_id=task_id,
            chunk_seconds=self.worker.settings.sync_chunk_seconds,
        )

    def _sync(
        self,
        sync: SyncKind[Request],
        request: Request,
        progress: dict[str, Any] | None,
        waits: BudgetWaits,
        task_id: str,
    ) -> dict[str, Any]:
        app, settings = self.worker, self.worker.settings
        what = sync.describe(request)
        with bybit_client(settings, app.bybit_budget) as client:
            context = self._context(task_id, client)
            try:
                run_id = open_run(context, sync, request)
            except Exception as exc:  # the database away before anything started
                raise self._judged(what, exc, waits, run_id=None, sync=sync) from exc
            if run_id is None:
                raise self._ended_copy(what, task_id)
            deaths = app.deliveries.begin(task_id)
            try:
                if deaths >= settings.worker_max_deliveries:
                    raise self._set_aside(sync, run_id, deaths)
                if deaths:
                    with app.general_db.sync_session() as session:
                        record_attempt_error(session, run_id, WORKER_LOST)
                try:
                    outcome = sync.chunk(context, run_id, request, progress)
                except Exception as exc:
                    raise self._judged(what, exc, waits, run_id=run_id, sync=sync) from exc
            finally:
                app.deliveries.end(task_id)
        if isinstance(outcome, Continuation):
            # The next chunk carries on the time waited for the budget (its own retries start at 0).
            carried = {"budget_waits": {"seconds": waits.seconds}} if waits.seconds else {}
            raise self.replace(self.signature(kwargs={**outcome.kwargs, **carried}))
        return close_run(app.general_db, sync, run_id, outcome)

    def _judged(
        self, what: str, error: Exception, waits: BudgetWaits, *, run_id: int | None, sync: SyncKind[Any]
    ) -> BaseException:
        """Decide what follows ``error``, say it on the row (when there is one and the database
        answers), and return what the task raises: a retry or the failure."""
        settings = self.worker.settings
        failed = max(0, self.request.retries - waits.times)
        situation = Situation(error, failed, waits.seconds, settings)
        rule = decide(situation)
        try:
            self._record(rule, situation, run_id, sync)
        except Exception as exc:  # the database away too: the retry, or the sweep, sees to the row
            logger.warning("sync row not updated", error=type(exc).__name__)
        words = attempt_words(error)
        if rule.verdict is Verdict.WAIT:
            countdown = situation.budget_countdown
            logger.warning(
                "waiting for Bybit's call budget, which holds every call; the task waits for a retry",
                reason=words,
                retry_in=round(countdown, 1),
                waited=round(waits.seconds, 1),
            )
            return self._wait_for_budget(waits, countdown, error)
        if rule.verdict is Verdict.RETRY:
            countdown = retry_countdown(settings, failed, error)
            logger.warning(
                "chunk failed; retried", reason=words, retry_in=round(countdown, 1), failed=failed + 1
            )
            max_retries = settings.sync_retry_max + waits.times
            return self.retry(exc=error, countdown=countdown, max_retries=max_retries)
        logger.warning("sync failed", rule=rule.when, reason=words)
        return _failure(what, situation)

    def _record(self, rule: Rule, situation: Situation, run_id: int | None, sync: SyncKind[Any]) -> None:
        if run_id is None:
            return
        database = self.worker.general_db
        words = attempt_words(situation.error)
        if rule.verdict is Verdict.WAIT:
            with database.sync_session() as session:
                note_sync_run_waiting(session, run_id, f"{BUDGET_WAIT}: {words}")
        elif rule.verdict is Verdict.RETRY:
            with database.sync_session() as session:
                record_attempt_error(session, run_id, f"{words} (retried)")
        else:
            fail_run(database, sync, run_id, words, situation.error)

    def _wait_for_budget(self, waits: BudgetWaits, countdown: float, error: Exception) -> BaseException:
        """The retry that waits for the call budget: not a failed attempt (``max_retries`` grows by
        it), and no expiry (a sync the API sent has started; the ban is not its lateness)."""
        settings = self.worker.settings
        kwargs = dict(self.request.kwargs or {})
        kwargs["budget_waits"] = {"times": waits.times + 1, "seconds": waits.seconds + countdown}
        # Celery takes expires=None as "no expiry" (its type hints leave None out).
        no_expiry: dict[str, Any] = {"expires": None}
        return self.retry(
            kwargs=kwargs,
            exc=error,
            countdown=countdown,
            max_retries=settings.sync_retry_max + waits.times + 1,
            **no_expiry,
        )

    def _ended_copy(self, what: str, task_id: str) -> BaseException:
        """A copy of a sync that has ended (a redelivered earlier chunk, a second send of the same
        period, a copy of a task set aside): it does nothing. Celery marked it started on arrival,
        over the sync's earlier end; a failed sync fails again to put that back (a success Celery
        keeps)."""
        with self.worker.general_db.sync_session() as session:
            ended = sync_run_status(session, task_id)
        logger.info("copy of an ended sync dropped", status=ended and ended.status)
        if ended is not None and ended.status == "failed":
            return SyncFailedError(
                f"{what}: the sync ended as failed: {ended.last_attempt or 'no reason kept'}"
            )
        return Ignore()

    def _set_aside(self, sync: SyncKind[Any], run_id: int, deaths: int) -> TaskSetAsideError:
        """Put the task on the dead-letter list, close its row, say so in the log."""
        queue = self.worker.settings.celery_queue
        error = TaskSetAsideError(
            f"set aside: its worker died under it {deaths} times "
            f"(WORKER_MAX_DELIVERIES); its message is on the Redis list {dead_letter_key(queue)}"
        )
        self.worker.deliveries.set_aside(
            str(self.request.id), self.name, dict(self.request.kwargs or {}), deaths
        )
        fail_run(self.worker.general_db, sync, run_id, str(error), error)
        logger.error("task set aside", worker_deaths=deaths, dead_letter=dead_letter_key(queue))
        return error


@shared_task(name=PING)
def ping() -> str:
    """A no-op: proves a worker consumes the queue and the result backend answers."""
    return "pong"


@shared_task(bind=True, base=SyncTask, name=SYNC_INSTRUMENTS)
def sync_instruments_task(
    self: SyncTask,
    progress: dict[str, Any] | None = None,
    budget_waits: dict[str, Any] | None = None,
    **request: Unpack[SyncInstrumentsArgs],
) -> dict[str, Any]:
    """Upsert the instruments of the category asked (None: every category), delisting those gone."""
    check_request(SYNC_INSTRUMENTS, request)
    return self.sync(INSTRUMENTS, request, progress, budget_waits)


@shared_task(bind=True, base=SyncTask, name=SYNC_KLINES)
def sync_klines_task(
    self: SyncTask,
    progress: dict[str, Any] | None = None,
    budget_waits: dict[str, Any] | None = None,
    **request: Unpack[SyncKlinesArgs],
) -> dict[str, Any]:
    """Fetch the candles missing in [start_ms, end_ms] (without them: in the last 1,000 closed)."""
    check_request(SYNC_KLINES, request)
    return self.sync(KLINES, request, progress, budget_waits)


@shared_task(bind=True, name=SWEEP_SYNC_RUNS)
def sweep_sync_runs(self: Task) -> list[str]:  # type: ignore[type-arg]
    """Close as failed the running syncs silent for longer than any live task stays (their task
    ended without closing them: a worker lost for good, the database away at their end)."""
    app = cast(WorkerApp, self.app)
    silent_since = datetime.now(UTC) - timedelta(seconds=abandoned_after(app.settings))
    with app.general_db.sync_session() as session:
        closed = close_abandoned_sync_runs(session, silent_since=silent_since)
    if closed:
        logger.warning("abandoned syncs closed as failed", task_ids=closed)
    return closed
