"""A general database restarted in the middle of a sync: the worker retries the chunk and the sync
ends whole, its row closed, never left ``running``; its Celery result agrees with the row.

A PostgreSQL of the test's own (``local_stack.private``), so the restart disturbs no other test;
a real worker process, the fake exchange answering slowly enough that the restart lands mid-sync.
"""

import uuid
from collections.abc import Iterator

import pytest
from celery import Celery
from local_stack.private import private_postgres
from pydantic import SecretStr
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool
from test_support.scratch import scratch_database
from test_support.worker_process import WorkerProcess, wait_until

from bybit_client.testing import FakeBybit
from core_config import Settings
from db_core import database_spec, upgrade
from worker_contract import SYNC_KLINES, SyncKlinesArgs
from worker_service import celery_config

START_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
CANDLES = 6000


@pytest.fixture
def restartable(worker_settings: Settings) -> Iterator[tuple[Settings, Engine, "object"]]:
    """Settings whose general database lives on a PostgreSQL of this test's own, migrated."""
    with private_postgres() as server, scratch_database("outage", server.url) as url:
        settings = worker_settings.model_copy(
            update={
                "database_url_general": SecretStr(url),
                "celery_queue": f"test-outage-{uuid.uuid4().hex[:8]}",
                "sync_retry_backoff": 0.5,
                "db_connect_timeout": 2,
            }
        )
        upgrade(database_spec("general"), settings, url=url)
        engine = create_engine(url, poolclass=NullPool)
        yield settings, engine, server
        engine.dispose()


def _runs(engine: Engine) -> list[tuple[str, int, int]]:
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT status, rows, failed_attempts FROM sync_runs"))
        return [(status, written, failed) for status, written, failed in rows]


@pytest.mark.timeout(240)
def test_a_database_restart_mid_sync_is_retried_and_leaves_no_running_row(
    restartable: tuple[Settings, Engine, object], fake_bybit: FakeBybit
) -> None:
    settings, engine, server = restartable
    fake_bybit.delay_seconds = 0.2  # a page every fifth of a second: the sync takes over a second
    client = Celery("test-outage", set_as_current=False)
    client.conf.update(celery_config(settings))
    request = SyncKlinesArgs(
        category="linear",
        symbol="BTCUSDT",
        interval="1",
        start_ms=START_MS,
        end_ms=START_MS + (CANDLES - 1) * 60_000,
    )
    with WorkerProcess(settings) as worker:
        result = client.send_task(SYNC_KLINES, kwargs=dict(request), queue=settings.celery_queue)
        wait_until(lambda: any(written > 0 for _, written, _ in _runs(engine)), 60, "the first page written")
        server.restart()  # type: ignore[attr-defined]
        summary = result.get(timeout=120)
        output = worker.output()
    assert result.state == "SUCCESS"
    assert isinstance(summary, dict)
    [(status, written, failed)] = _runs(engine)
    assert (status, written) == ("succeeded", CANDLES), output
    assert failed >= 1, output  # the chunk the restart cut off, counted and retried
    assert "the database" in output or "OperationalError" in output
    with engine.connect() as connection:
        assert connection.scalar(text("SELECT count(DISTINCT start_time) FROM klines")) == CANDLES
    client.close()
