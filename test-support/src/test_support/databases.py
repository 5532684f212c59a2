"""pytest fixtures for the databases (loaded by the root conftest.py).

Session scope: one fresh database per registered database (unique names on the server named by
``TEST_DATABASE_URL``), migrated with Alembic, dropped at the end; created only when a test asks.
Function scope: sessions inside a transaction that is rolled back after the test, with
``join_transaction_mode="create_savepoint"`` so the code under test may commit freely.
"""

import time
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import Engine, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.orm import Session

from core_config import Settings, build_settings
from db_core.engines import create_async_database_engine, create_sync_database_engine
from db_core.migrations import upgrade
from db_core.registry import database_spec
from test_support.scratch import scratch_database, test_server_url


@contextmanager
def migrated_database(name: str) -> Iterator[str]:
    """A fresh database of ``name`` ("user", "general") migrated to head, dropped after the block:
    for a test that commits rows others would count (the session's databases are shared by the
    test files a worker runs)."""
    spec = database_spec(name)
    with scratch_database(name, test_server_url()) as url:
        upgrade(spec, build_settings(environment="test"), url=url)
        yield url


def _settings_for(name: str, url: str) -> Settings:
    return build_settings(environment="test", **{database_spec(name).url_setting: url})


@pytest.fixture(scope="session")
def user_database_url() -> Iterator[str]:
    """A fresh user database migrated to head, for the whole run."""
    with migrated_database("user") as url:
        yield url


@pytest.fixture(scope="session")
def general_database_url() -> Iterator[str]:
    """A fresh general database migrated to head, for the whole run."""
    with migrated_database("general") as url:
        yield url


@pytest.fixture(scope="session")
def test_settings(user_database_url: str, general_database_url: str) -> Settings:
    """Settings with ENVIRONMENT=test pointing at both fresh databases, and a Bybit call budget of
    this run's own (a ban another run's test provokes must not pause this one)."""
    return build_settings(
        environment="test",
        database_url_user=user_database_url,
        database_url_general=general_database_url,
        bybit_budget_prefix=f"test-budget-{uuid.uuid4().hex[:12]}",
    )


@pytest.fixture
def empty_database_url() -> Iterator[str]:
    """An empty database (no migrations applied) for this test only."""
    with scratch_database("empty", test_server_url()) as url:
        yield url


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def user_engine(user_database_url: str) -> AsyncIterator[AsyncEngine]:
    spec = database_spec("user")
    engine = create_async_database_engine(
        spec, _settings_for("user", user_database_url), url=user_database_url
    )
    yield engine
    await engine.dispose()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def general_engine(general_database_url: str) -> AsyncIterator[AsyncEngine]:
    spec = database_spec("general")
    engine = create_async_database_engine(
        spec, _settings_for("general", general_database_url), url=general_database_url
    )
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def general_sync_engine(general_database_url: str) -> Iterator[Engine]:
    spec = database_spec("general")
    engine = create_sync_database_engine(
        spec, _settings_for("general", general_database_url), url=general_database_url
    )
    yield engine
    engine.dispose()


async def _rolled_back_async_session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    async with engine.connect() as connection:
        transaction = await connection.begin()
        session = AsyncSession(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        try:
            yield session
        finally:
            await session.close()
            await transaction.rollback()


@pytest_asyncio.fixture(loop_scope="session")
async def user_session(user_engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """An AsyncSession on the user database; everything it does is rolled back after the test."""
    async for session in _rolled_back_async_session(user_engine):
        yield session


@pytest_asyncio.fixture(loop_scope="session")
async def general_session(general_engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """An AsyncSession on the general database; everything it does is rolled back after the test."""
    async for session in _rolled_back_async_session(general_engine):
        yield session


@pytest_asyncio.fixture(loop_scope="session")
async def general_connection(general_session: AsyncSession) -> AsyncConnection:
    """The connection beneath ``general_session``, for the reads that take a connection (the API's
    ``Database.reads()``): they see what the session flushed, and it is all rolled back after the
    test."""
    return await general_session.connection()


@pytest.fixture
def general_sync_session(general_sync_engine: Engine) -> Iterator[Session]:
    """A sync Session on the general database; everything it does is rolled back after the test."""
    with general_sync_engine.connect() as connection:
        transaction = connection.begin()
        session = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
        try:
            yield session
        finally:
            session.close()
            transaction.rollback()


def wait_until_blocked_on_a_lock(engine: Engine, pending: "Future[Any]", who: str) -> None:
    """Return once a session of ``engine``'s database waits on a lock; fail when ``pending`` (the
    work expected to wait) finishes instead, or when nothing waits within 10 s."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    deadline = time.monotonic() + 10
    while True:
        with engine.connect() as connection:
            if connection.scalar(query):
                return
        assert not pending.done(), f"{who} did not wait: {pending.result()}"
        assert time.monotonic() < deadline, f"{who} neither waited nor finished"
        time.sleep(0.02)
