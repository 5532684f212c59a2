"""Pooled connections idle past the threshold are pinged, and replaced when they no longer answer;
after a server restart every connection pooled before is replaced."""

import asyncio
from contextlib import AsyncExitStack
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool, QueuePool

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


async def test_after_a_server_restart_every_dead_idle_connection_is_replaced(user_database_url: str) -> None:
    # Four idle connections, all dead: the first found dead has every older one replaced at its
    # next checkout, none of them handed out.
    engine = create_async_engine(user_database_url, pool_size=4, max_overflow=0, pool_timeout=2)
    ping_idle_connections(engine.sync_engine, 0)
    try:
        dead = await _pids_of(engine, 4)
        for pid in dead:
            _terminate(user_database_url, pid)
        async with engine.connect() as connection:
            assert (await connection.execute(PID)).scalar_one() not in dead
        assert not set(await _pids_of(engine, 4)) & set(dead)
    finally:
        await engine.dispose()


async def _pids_of(engine: AsyncEngine, count: int) -> list[int]:
    """Check out ``count`` connections at once and give them back: the pool then holds them idle."""
    async with AsyncExitStack() as stack:
        connections = [await stack.enter_async_context(engine.connect()) for _ in range(count)]
        return [(await connection.execute(PID)).scalar_one() for connection in connections]


async def test_a_checkout_cancelled_mid_ping_leaves_the_pool_whole(
    user_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = create_async_engine(user_database_url, pool_size=1, max_overflow=0, pool_timeout=2)
    ping_idle_connections(engine.sync_engine, 0)
    execute = psycopg.AsyncCursor.execute
    never = asyncio.Event()

    async def stuck_ping(self: psycopg.AsyncCursor[Any], query: Any, *args: Any, **kwargs: Any) -> Any:
        if "pg_backend_pid" not in str(query):  # the ping
            await never.wait()
        return await execute(self, query, *args, **kwargs)

    try:
        await _pids_of(engine, 1)  # one idle connection, pinged at its next checkout
        monkeypatch.setattr(psycopg.AsyncCursor, "execute", stuck_ping)
        checkout = asyncio.create_task(engine.connect().start())
        await asyncio.sleep(0.1)
        checkout.cancel()
        with pytest.raises(asyncio.CancelledError):
            await checkout
        monkeypatch.undo()
        assert isinstance(engine.pool, QueuePool)
        assert engine.pool.checkedout() == 0
        # The pool's one place was given back: a checkout does not wait out the pool timeout.
        assert len(await _pids_of(engine, 1)) == 1
    finally:
        await engine.dispose()
