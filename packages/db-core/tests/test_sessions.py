"""Engines carry the settings to the server; scopes commit on success and roll back on error."""

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from core_config import build_settings
from db_core import (
    Database,
    async_session_factory,
    create_async_database_engine,
    database_spec,
)


@pytest_asyncio.fixture(loop_scope="session")
async def engine(user_database_url: str) -> AsyncIterator[AsyncEngine]:
    settings = build_settings(
        environment="test",
        database_url_user=user_database_url,
        db_pool_size=2,
        db_max_overflow=1,
        db_statement_timeout_ms=1234,
    )
    created = create_async_database_engine(
        database_spec("user"), settings, url=user_database_url, application_name="tests:user"
    )
    yield created
    await created.dispose()


async def test_engine_applies_pool_and_connection_settings(engine: AsyncEngine) -> None:
    assert engine.pool.size() == 2  # type: ignore[attr-defined]
    async with engine.connect() as connection:
        assert (await connection.execute(text("SHOW statement_timeout"))).scalar_one() == "1234ms"
        assert (await connection.execute(text("SHOW application_name"))).scalar_one() == "tests:user"
        assert (await connection.execute(text("SHOW TimeZone"))).scalar_one() == "UTC"
        read = (await connection.execute(text("SELECT '2026-01-01 12:00+02'::timestamptz"))).scalar_one()
        assert (read.utcoffset(), read.hour) == (timedelta(0), 10)


async def test_scope_commits_on_success_and_rolls_back_on_error(user_database_url: str) -> None:
    settings = build_settings(environment="test", database_url_user=user_database_url)
    database = Database(database_spec("user"), settings)
    email = "scope-test@example.com"
    try:

        async def insert_then_fail() -> None:
            async with database.session() as session:
                await session.execute(text("INSERT INTO users (email) VALUES (:e)"), {"e": email})
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError):
            await insert_then_fail()
        async with database.session() as session:
            count = (
                await session.execute(text("SELECT count(*) FROM users WHERE email = :e"), {"e": email})
            ).scalar()
            assert count == 0
            await session.execute(text("INSERT INTO users (email) VALUES (:e)"), {"e": email})
        async with database.session() as session:
            count = (
                await session.execute(text("SELECT count(*) FROM users WHERE email = :e"), {"e": email})
            ).scalar()
            assert count == 1
            await session.execute(text("DELETE FROM users WHERE email = :e"), {"e": email})
    finally:
        await database.dispose()
    assert database.async_engine() is not None  # disposed engines are recreated on next use
    await database.dispose()


def test_sync_scope_commits_on_success_and_rolls_back_on_error(general_database_url: str) -> None:
    settings = build_settings(environment="test", database_url_general=general_database_url)
    database = Database(database_spec("general"), settings)
    try:

        def insert_then_fail() -> None:
            with database.sync_session() as session:
                session.execute(text("INSERT INTO sync_runs (kind) VALUES ('scope-test')"))
                raise ValueError("boom")

        with pytest.raises(ValueError, match="boom"):
            insert_then_fail()
        with database.sync_session() as session:
            assert (
                session.execute(text("SELECT count(*) FROM sync_runs WHERE kind = 'scope-test'")).scalar()
                == 0
            )
    finally:
        database.dispose_sync()


async def test_fixture_sessions_roll_back_what_a_test_commits(user_engine: AsyncEngine) -> None:
    # The fixture's savepoint mode lets code under test commit; the outer transaction still rolls back.
    async with user_engine.connect() as connection:
        transaction = await connection.begin()
        session = async_session_factory(user_engine)(
            bind=connection, join_transaction_mode="create_savepoint"
        )
        await session.execute(text("INSERT INTO users (email) VALUES ('savepoint@example.com')"))
        await session.commit()
        await session.close()
        await transaction.rollback()
    async with user_engine.connect() as connection:
        found = await connection.execute(text("SELECT 1 FROM users WHERE email = 'savepoint@example.com'"))
        assert found.first() is None
