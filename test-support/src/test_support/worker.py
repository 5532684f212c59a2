"""pytest fixtures for tests that need a real worker (loaded by the root conftest.py).

The worker talks to the session's fresh general database (``test_support.databases``), the
session's fake Bybit server (``bybit_client.testing.plugin``) and Redis. Test runs sharing a Redis
stay apart: each session consumes a queue of its own, in a Redis database index of its own
(``TEST_WORKER_REDIS_URL``).
"""

import os
import uuid
from collections.abc import Iterator

import pytest
from celery import Celery
from sqlalchemy import Engine, text

from bybit_client.testing import FakeBybit
from core_config import Settings, build_settings
from test_support.worker_process import WorkerProcess
from worker_service.celery_app import celery_config

DEFAULT_TEST_REDIS_URL = "redis://127.0.0.1:6379/7"


@pytest.fixture(scope="session")
def worker_settings(
    user_database_url: str, general_database_url: str, fake_bybit_server: FakeBybit
) -> Settings:
    """Settings for a test worker: a queue of this session's own, fast heartbeats, retries and stops."""
    return build_settings(
        environment="test",
        database_url_user=user_database_url,
        database_url_general=general_database_url,
        redis_url=os.environ.get("TEST_WORKER_REDIS_URL", DEFAULT_TEST_REDIS_URL),
        celery_queue=f"test-{uuid.uuid4().hex[:12]}",
        bybit_budget_prefix=f"test-budget-{uuid.uuid4().hex[:12]}",
        bybit_api_url=fake_bybit_server.base_url,
        bybit_timeout=5.0,
        worker_heartbeat_interval=0.5,
        sync_retry_max=5,
        sync_retry_backoff=0.2,
        worker_soft_shutdown_timeout=2.0,
        worker_shutdown_delay=10,
    )


@pytest.fixture(scope="module")
def worker(worker_settings: Settings) -> Iterator[WorkerProcess]:
    """A worker process consuming the session's queue, started once per test module."""
    with WorkerProcess(worker_settings) as process:
        yield process


@pytest.fixture(scope="session")
def celery_client(worker_settings: Settings) -> Iterator[Celery]:
    """A Celery app configured like the worker's, to send tasks and read their results."""
    client = Celery("test-client", set_as_current=False)
    client.conf.update(celery_config(worker_settings))
    yield client
    client.close()


@pytest.fixture
def clean_general_database(general_sync_engine: Engine) -> Engine:
    """The session's general database emptied of what earlier tests' workers committed."""
    with general_sync_engine.begin() as connection:
        connection.execute(text("TRUNCATE instruments, klines, sync_runs"))
    return general_sync_engine
