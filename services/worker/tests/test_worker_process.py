"""A real worker process on real Redis, the session's general database and the fake Bybit server."""

import subprocess
import sys
import time

import pytest
from celery import Celery
from pydantic import SecretStr
from sqlalchemy import Engine, text
from test_support.environment import WORKER_SETTINGS, settings_environment
from test_support.worker_process import WorkerProcess, wait_until

from bybit_client.testing import FakeBybit
from core_config import Settings

KLINES = "/v5/market/kline"
START_MS = 1_700_000_000_000 // 60_000 * 60_000
pytestmark = pytest.mark.usefixtures("worker")


def _send(client: Celery, settings: Settings, name: str, **kwargs: object) -> object:
    result = client.send_task(name, kwargs=kwargs, queue=settings.celery_queue)
    return result.get(timeout=60)


def test_ping_answers_pong(celery_client: Celery, worker_settings: Settings) -> None:
    assert _send(celery_client, worker_settings, "worker.ping") == "pong"


def test_health_is_ok_while_the_worker_beats(worker: WorkerProcess, worker_settings: Settings) -> None:
    env = settings_environment(worker_settings, WORKER_SETTINGS)
    healthy = subprocess.run(
        [sys.executable, "-m", "worker_service", "health", "--node", worker.node],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert healthy.returncode == 0, healthy.stderr
    missing = subprocess.run(
        [sys.executable, "-m", "worker_service", "health", "--node", "celery@nowhere"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert missing.returncode == 1
    assert "no heartbeat from celery@nowhere" in missing.stderr


def test_klines_retry_through_rate_limits_and_outages_then_succeed(
    celery_client: Celery, worker_settings: Settings, fake_bybit: FakeBybit, clean_general_database: Engine
) -> None:
    # More failures in a row than the client's own attempts: only Celery's retries get past them.
    fake_bybit.fail_next(4, "rate_limit_reset_past", path=KLINES)
    fake_bybit.fail_next(4, "http_5xx", path=KLINES)
    end_ms = START_MS + 1499 * 60_000
    summary = _send(
        celery_client,
        worker_settings,
        "sync.klines",
        category="linear",
        symbol="BTCUSDT",
        interval="1",
        start_ms=START_MS,
        end_ms=end_ms,
    )
    assert isinstance(summary, dict)
    assert summary["fetched"] == 1500
    assert summary["written"] == 1500
    with clean_general_database.connect() as connection:
        stored = connection.scalar(text("SELECT count(*) FROM klines WHERE symbol = 'BTCUSDT'"))
        runs = connection.execute(text("SELECT status, rows, error FROM sync_runs ORDER BY id")).all()
    assert stored == 1500
    # Retries continue the sync's one row; it closes when the sync succeeds.
    assert [tuple(run) for run in runs] == [("succeeded", 1500, None)]


def test_an_unknown_interval_fails_with_a_clear_recorded_error(
    celery_client: Celery, worker_settings: Settings, clean_general_database: Engine
) -> None:
    result = celery_client.send_task(
        "sync.klines",
        kwargs={
            "category": "linear",
            "symbol": "BTCUSDT",
            "interval": "7",
            "start_ms": START_MS,
            "end_ms": START_MS,
        },
        queue=worker_settings.celery_queue,
    )
    with pytest.raises(Exception, match="unknown interval '7'"):
        result.get(timeout=30)
    with clean_general_database.connect() as connection:
        status, error = connection.execute(text("SELECT status, error FROM sync_runs")).one()
    assert status == "failed"
    assert "unknown interval '7'" in error


def test_a_worker_whose_redis_refuses_is_not_left_running(
    worker_settings: Settings, closed_port: int
) -> None:
    settings = worker_settings.model_copy(
        update={"redis_url": SecretStr(f"redis://127.0.0.1:{closed_port}/0")}
    )
    process = WorkerProcess(settings)
    with pytest.raises(Exception, match=r"Connection refused|Error"):
        process.start(timeout=20)
    assert process.process is not None
    assert process.process.poll() is not None  # killed, not leaked


def _row(engine: Engine) -> tuple[object, ...]:
    with engine.connect() as connection:
        return tuple(
            connection.execute(
                text("SELECT id, status, rows, failed_attempts, attempt_errors, finished_at FROM sync_runs")
            ).one()
        )


@pytest.mark.parametrize("ended_as", ["succeeded", "failed"])
def test_a_late_copy_of_an_ended_sync_fetches_nothing_and_changes_no_row(
    celery_client: Celery,
    worker_settings: Settings,
    fake_bybit: FakeBybit,
    clean_general_database: Engine,
    ended_as: str,
) -> None:
    if ended_as == "failed":  # Bybit failing through every retry: the sync ends as failed
        fake_bybit.fail_next(1000, "http_5xx", path=KLINES)
    kwargs = {
        "category": "linear",
        "symbol": "BTCUSDT",
        "interval": "1",
        "start_ms": START_MS,
        "end_ms": START_MS,
    }
    first = celery_client.send_task("sync.klines", kwargs=kwargs, queue=worker_settings.celery_queue)
    try:
        first.get(timeout=60)
    except Exception:
        assert ended_as == "failed"
    fake_bybit.faults.clear()
    ended = _row(clean_general_database)
    assert ended[1] == ended_as
    pages = fake_bybit.count(KLINES)
    # A copy of the same task, as a redelivery after its end would bring it.
    copy = celery_client.send_task(
        "sync.klines", kwargs=kwargs, queue=worker_settings.celery_queue, task_id=first.id
    )
    if ended_as == "failed":
        # The copy fails again (Celery marked it started over the first's failure), saying why.
        # (a fresh AsyncResult each time: one that has seen an end keeps it)
        def failed_again() -> bool:
            return "the sync ended as failed" in str(celery_client.AsyncResult(copy.id).result)

        wait_until(failed_again, 30, "the copy to fail again")
        again = celery_client.AsyncResult(copy.id)
        assert again.state == "FAILURE"
        assert "HTTP 502" in str(again.result)  # what its last attempt said
    else:
        time.sleep(2.0)  # the copy has been taken and dropped by now
        assert celery_client.AsyncResult(copy.id).state == "SUCCESS"
    assert fake_bybit.count(KLINES) == pages
    assert _row(clean_general_database) == ended
