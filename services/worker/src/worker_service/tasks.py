"""The tasks, by the names the API and beat send them with; the work itself is in ``syncing``.

A Bybit outage or rate limit the client's own short retries could not ride out is retried by
Celery with a growing countdown (``SYNC_RETRY_BACKOFF`` doubled each time, ``SYNC_RETRY_MAX``
times); the worker is free for other tasks meanwhile. Anything else fails the task at once with
a message saying what was asked and what went wrong, also recorded in ``sync_runs``.
"""

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar, cast

from celery import Task, shared_task

from bybit_client import BybitClient, BybitError, BybitRateLimitError, RetryPolicy
from core_config import Settings, bind_log_context
from core_telemetry import telemetry
from worker_service.celery_app import WorkerApp
from worker_service.syncing import SyncContext, describe_error, sync_instruments, sync_klines
from worker_service.task_names import PING, SYNC_INSTRUMENTS, SYNC_KLINES

T = TypeVar("T")
MAX_COUNTDOWN = 600.0
# The client rides out short blips itself; longer outages are Celery's retries, which free the worker.
CLIENT_RETRY = RetryPolicy(max_attempts=3, max_total_seconds=15.0, max_rate_limit_wait=5.0)


class SyncFailedError(Exception):
    """A sync that cannot succeed by retrying (a bad symbol, a refused request) or ran out of retries."""


def retry_countdown(settings: Settings, retries: int, error: BybitError) -> float:
    """Seconds before retry ``retries + 1``: exponential, jittered, at least until a rate limit resets."""
    countdown = settings.sync_retry_backoff * 2**retries * (0.8 + 0.4 * random.random())  # noqa: S311
    if isinstance(error, BybitRateLimitError) and error.reset_at is not None:
        countdown = max(countdown, error.reset_at.timestamp() - time.time())
    return float(min(countdown, MAX_COUNTDOWN))


def _app(task: Task[Any, Any]) -> WorkerApp:
    return cast(WorkerApp, task.app)


def bybit_client(settings: Settings) -> BybitClient:
    """A client for Bybit's public market data on the configured network (no key needed)."""
    return BybitClient(
        settings.bybit_api_url,
        timeout=settings.bybit_timeout,
        recv_window=settings.bybit_recv_window,
        retry=CLIENT_RETRY,
        ca_file=settings.bybit_ca_file,
        observer=telemetry().bybit_observer(),
    )


@contextmanager
def _sync_context(task: Task[Any, Any]) -> Iterator[SyncContext]:
    app = _app(task)
    with bybit_client(app.settings) as client:
        yield SyncContext(database=app.general_db, client=client, task_id=task.request.id)


def _run_sync(task: Task[Any, Any], what: str, sync: Callable[[SyncContext], T]) -> T:
    """Run ``sync``, turning Bybit's errors into a Celery retry or a clear failure."""
    settings = _app(task).settings
    # The request that sent the task (the API puts its id in the message headers), if any.
    sent_by = getattr(task.request, "request_id", None)
    fields = {"request_id": sent_by} if isinstance(sent_by, str) else {}
    with bind_log_context(**fields, task_id=task.request.id, task=task.name):
        try:
            with _sync_context(task) as context:
                return sync(context)
        except BybitError as exc:
            retries = task.request.retries
            if exc.retryable and retries < settings.sync_retry_max:
                countdown = retry_countdown(settings, retries, exc)
                raise task.retry(exc=exc, countdown=countdown, max_retries=settings.sync_retry_max) from exc
            reason = "Bybit kept failing" if exc.retryable else "Bybit refused the request"
            raise SyncFailedError(f"{what}: {reason}: {describe_error(exc)}") from exc


@shared_task(name=PING)
def ping() -> str:
    """A no-op: proves a worker consumes the queue and the result backend answers."""
    return "pong"


@shared_task(bind=True, name=SYNC_INSTRUMENTS)
def sync_instruments_task(self: Task[Any, Any], category: str | None = None) -> dict[str, Any]:
    """Upsert the instruments of ``category`` (None: every category), delisting those gone."""
    what = f"instruments {category or 'all'}"
    return _run_sync(self, what, lambda context: sync_instruments(context, category))


@shared_task(bind=True, name=SYNC_KLINES)
def sync_klines_task(
    self: Task[Any, Any],
    category: str,
    symbol: str,
    interval: str,
    start_ms: int | None = None,
    end_ms: int | None = None,
) -> dict[str, Any]:
    """Backfill the candles of [start_ms, end_ms] (without them: from the newest stored to now)."""
    return _run_sync(
        self,
        f"klines {category} {symbol} {interval}",
        lambda context: sync_klines(context, category, symbol, interval, start_ms, end_ms),
    )
