"""Pooled connections idle past the threshold are pinged, and replaced when they no longer answer."""

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from db_core import ping_idle_connections

PID = text("SELECT pg_backend_pid()")


def _terminate(url: str, pid: int) -> None:
    killer = create_engine(url, poolclass=NullPool)
    with killer.connect() as connection:
        connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    killer.dispose()


def _engine(url: str, idle_seconds: float) -> Engine:
    engine = create_engine(url, pool_size=1, max_overflow=0)
    ping_idle_connections(engine, idle_seconds)
    return engine


def test_an_idle_dead_connection_is_replaced_before_use(user_database_url: str) -> None:
    engine = _engine(user_database_url, idle_seconds=0)
    with engine.connect() as connection:
        first = connection.execute(PID).scalar_one()
    _terminate(user_database_url, first)
    with engine.connect() as connection:
        assert connection.execute(PID).scalar_one() != first
    engine.dispose()


def test_a_connection_used_a_moment_ago_is_not_pinged(user_database_url: str) -> None:
    engine = _engine(user_database_url, idle_seconds=3600)
    with engine.connect() as connection:
        first = connection.execute(PID).scalar_one()
    _terminate(user_database_url, first)
    with pytest.raises(OperationalError), engine.connect() as connection:
        connection.execute(PID)  # no ping: the dead connection was handed out as it was
    engine.dispose()


async def test_the_async_engine_replaces_an_idle_dead_connection(user_database_url: str) -> None:
    engine = create_async_engine(user_database_url, pool_size=1, max_overflow=0)
    ping_idle_connections(engine.sync_engine, 0)
    async with engine.connect() as connection:
        first = (await connection.execute(PID)).scalar_one()
    _terminate(user_database_url, first)
    async with engine.connect() as connection:
        assert (await connection.execute(PID)).scalar_one() != first
    await engine.dispose()
