"""A sync that meets Bybit's IP ban waits it out: a real worker on real Redis, the session's general
database and the fake exchange banning the address.

The sync's first call is answered HTTP 403; the shared call budget then holds every call for
``BYBIT_BAN_PAUSE`` (4 s here), which the task waits out in a retry of at most 2 s (the visibility
timeout leaves no more), then in the client (the rest is within ``SYNC_BUDGET_WAIT``), with
``SYNC_RETRY_MAX`` at 0: had the retry counted as a failed attempt, the sync would have failed.
"""

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from celery import Celery
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError
from test_support.worker_process import WorkerProcess, wait_until

from bybit_client import BybitBudgetError, BybitInvalidRequestError, BybitRateLimitError, BybitTransientError
from bybit_client.testing import FakeBybit
from core_config import Settings, build_settings
from worker_service.celery_app import celery_config
from worker_service.tasks import Situation, Verdict, budget_wait_limit, decide
from worker_service.timing import max_retry_countdown

KLINES = "/v5/market/kline"
START_MS = 1_700_000_000_000 // 60_000 * 60_000
CANDLES = 1500
BAN_PAUSE = 4.0


@pytest.fixture(scope="module")
def ban_settings(worker_settings: Settings) -> Settings:
    """The session's worker settings with a short ban pause, a visibility timeout leaving retries
    2 s of countdown, no retry after a failure, and a queue and budget of this module's own."""
    settings = worker_settings.model_copy(
        update={
            "celery_queue": f"test-ban-{uuid.uuid4().hex[:12]}",
            "bybit_budget_prefix": f"test-ban-budget-{uuid.uuid4().hex[:12]}",
            "bybit_ban_pause": BAN_PAUSE,
            "celery_visibility_timeout": worker_settings.task_time_limit + 7,
            "sync_retry_max": 0,
        }
    )
    assert max_retry_countdown(settings) == 2.0
    return settings


@pytest.fixture(scope="module")
def ban_worker(ban_settings: Settings) -> Iterator[tuple[WorkerProcess, Celery]]:
    """A worker on those settings, and a client sending to its queue."""
    client = Celery("test-ban-client", set_as_current=False)
    client.conf.update(celery_config(ban_settings))
    with WorkerProcess(ban_settings) as process:
        yield process, client
    client.close()


def test_a_sync_waits_out_a_ban_and_then_completes(
    ban_worker: tuple[WorkerProcess, Celery],
    ban_settings: Settings,
    fake_bybit: FakeBybit,
    clean_general_database: Engine,
) -> None:
    worker, client = ban_worker
    fake_bybit.ban(3.0)  # shorter than the pause the budget puts every process in
    kwargs: dict[str, object] = {"category": "linear", "symbol": "BTCUSDT", "interval": "1"}
    kwargs |= {"start_ms": START_MS, "end_ms": START_MS + (CANDLES - 1) * 60_000}
    result = client.send_task("sync.klines", kwargs=kwargs, queue=ban_settings.celery_queue)

    def waiting() -> bool:
        with clean_general_database.connect() as connection:
            row = connection.execute(text("SELECT status, waiting FROM sync_runs")).first()
        return row is not None and row.status == "running" and "Bybit's call budget" in (row.waiting or "")

    # While the ban lasts, the run's row says what it waits for.
    wait_until(waiting, 30, "the sync_runs row to say the sync waits for the call budget")
    summary = result.get(timeout=60)

    assert isinstance(summary, dict)
    assert (summary["fetched"], summary["written"]) == (CANDLES, CANDLES)
    # One call met the ban; nothing else reached the exchange until it had lifted.
    assert fake_bybit.banned_answers == 1
    arrivals = sorted(request.at_ms for request in fake_bybit.requests)
    assert arrivals[0] < fake_bybit.banned_until_ms <= arrivals[1]
    with clean_general_database.connect() as connection:
        stored = connection.scalar(text("SELECT count(*) FROM klines WHERE symbol = 'BTCUSDT'"))
        run = connection.execute(
            text("SELECT status, rows, error, waiting, failed_attempts FROM sync_runs")
        ).one()
    assert stored == CANDLES
    # The wait was no failed attempt (SYNC_RETRY_MAX is 0), and the worker's log said what it was.
    assert tuple(run) == ("succeeded", CANDLES, None, None, 0)
    assert "waiting for Bybit's call budget" in worker.output()


def test_a_wait_for_the_budget_is_bounded() -> None:
    settings = build_settings(environment="test", bybit_ban_pause=600)
    cap = max_retry_countdown(settings)
    held = BybitBudgetError("Bybit banned the address", retry_after=590.0)
    banned = BybitRateLimitError("access too frequent", http_status=403)
    limit = budget_wait_limit(settings)
    assert limit >= 2 * 600  # a ban met again right after the first lifts is waited out too

    def situation(error: Exception, waited: float = 0.0, failed: int = 0) -> Situation:
        return Situation(error, failed, waited, settings)

    for error in (held, banned):
        assert decide(situation(error)).verdict is Verdict.WAIT
        assert situation(error).budget_countdown == cap
    assert decide(situation(held, limit - cap)).verdict is Verdict.WAIT
    # Past the limit the sync stops waiting, and is not retried either: it fails, saying the ban
    # did not lift, and its sync_runs row is closed.
    assert decide(situation(held, limit - cap + 1)).verdict is Verdict.FAIL
    # A short hold is waited out with a countdown of its length; other errors are no wait at all.
    short = BybitBudgetError("the address's own limit is spent", retry_after=1.0)
    assert situation(short).budget_countdown == 1.5
    assert decide(situation(BybitTransientError("bad gateway"))).verdict is Verdict.RETRY
    assert decide(situation(BybitRateLimitError("too many visits"))).verdict is Verdict.RETRY
    # Failed attempts count against SYNC_RETRY_MAX; waits for the budget never do.
    assert decide(situation(BybitTransientError("bad gateway"), failed=5)).verdict is Verdict.FAIL
    assert decide(situation(held, failed=5)).verdict is Verdict.WAIT


def test_the_database_away_is_an_outage_retried_and_a_refusal_is_the_end() -> None:
    settings = build_settings(environment="test")
    away = OperationalError("SELECT 1", {}, psycopg.OperationalError("connection refused"))
    assert decide(Situation(away, 0, 0.0, settings)).verdict is Verdict.RETRY
    assert decide(Situation(away, settings.sync_retry_max, 0.0, settings)).verdict is Verdict.FAIL
    refused = BybitInvalidRequestError("symbol not found", ret_code=10001)
    assert decide(Situation(refused, 0, 0.0, settings)).verdict is Verdict.FAIL
    assert decide(Situation(ValueError("a bug"), 0, 0.0, settings)).verdict is Verdict.FAIL
