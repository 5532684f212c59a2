"""The read pool: autocommit psycopg connections with the engine's settings, replaced when dead;
a database that does not answer reported as ``DatabaseUnavailableError``, by the read pool and by
sessions alike; and readiness through either pool."""

import asyncio
from typing import Any

import psycopg
import pytest
import sqlalchemy.exc

from core_config import build_settings, libpq_url
from db_core import (
    Database,
    DatabaseUnavailableError,
    ReadConnection,
    ReadPool,
    database_spec,
    fetch_rows,
    head_revisions,
    means_unavailable,
    migration_status,
)

# now() is the transaction's start: equal to the statement's start only in a transaction of its own.
PROBE = (
    "SELECT pg_backend_pid(), now() = statement_timestamp(), current_setting('TimeZone'), "
    "current_setting('statement_timeout'), current_setting('application_name')"
)


def _terminate(url: str, pid: int) -> None:
    with psycopg.connect(libpq_url(url), autocommit=True) as connection:
        connection.execute("SELECT pg_terminate_backend(%s)", (pid,))


async def test_reads_run_in_autocommit_with_the_engine_settings(general_database_url: str) -> None:
    settings = build_settings(
        environment="test", database_url_general=general_database_url, db_statement_timeout_ms=1234
    )
    pool = ReadPool(database_spec("general"), settings, application_name="reads-test")
    try:
        async with pool.connection() as connection:
            await fetch_rows(connection, "SELECT pg_sleep(0.01)", {})
            [(_, own_transaction, timezone, timeout, name)] = await fetch_rows(connection, PROBE, {})
            count_runs = "SELECT count(*) FROM sync_runs WHERE kind = %(kind)s"
            [(count,)] = await fetch_rows(connection, count_runs, {"kind": "nothing"})
    finally:
        await pool.close()
    assert own_transaction  # no BEGIN before the reader's statements
    assert (timezone, timeout, name) == ("UTC", "1234ms", "reads-test")
    assert count == 0


async def test_readiness_reads_the_revision_through_the_read_pool(
    general_database_url: str, empty_database_url: str
) -> None:
    spec = database_spec("general")
    migrated = ReadPool(spec, build_settings(environment="test", database_url_general=general_database_url))
    empty = ReadPool(spec, build_settings(environment="test", database_url_general=empty_database_url))
    try:
        at_head, unmigrated = await migration_status(migrated, spec), await migration_status(empty, spec)
        opened = migrated.pool.get_stats()["pool_size"]
    finally:
        await migrated.close()
        await empty.close()
    assert at_head.at_head
    assert at_head.current == head_revisions(spec)
    assert (unmigrated.reachable, unmigrated.current, unmigrated.at_head) == (True, (), False)
    assert opened == 1  # the status took its connection from the pool and gave it back


async def test_an_idle_dead_connection_is_replaced_before_use(general_database_url: str) -> None:
    settings = build_settings(environment="test", database_url_general=general_database_url, db_pool_size=1)
    spec = database_spec("general")
    pool = ReadPool(spec, settings, ping_after_idle_seconds=0)
    try:
        async with pool.connection() as connection:
            [(first, *_)] = await fetch_rows(connection, PROBE, {})
        _terminate(general_database_url, first)
        async with pool.connection() as connection:
            [(second, *_)] = await fetch_rows(connection, PROBE, {})
        assert second != first
    finally:
        await pool.close()


async def test_a_connection_used_a_moment_ago_is_not_pinged(general_database_url: str) -> None:
    settings = build_settings(environment="test", database_url_general=general_database_url, db_pool_size=1)
    pool = ReadPool(database_spec("general"), settings, ping_after_idle_seconds=3600)
    try:
        async with pool.connection() as connection:
            [(first, *_)] = await fetch_rows(connection, PROBE, {})
        _terminate(general_database_url, first)
        # No ping: the dead connection is handed out as it is, and its failure is reported as such.
        with pytest.raises(DatabaseUnavailableError, match="general database"):
            async with pool.connection() as connection:
                await fetch_rows(connection, PROBE, {})
    finally:
        await pool.close()


@pytest.mark.timeout(20)  # a hang, not a slow answer, is what this guards against
@pytest.mark.parametrize(
    ("port_fixture", "reason"),
    [
        ("closed_port", "connecting to the server failed"),  # refused: said at once
        ("silent_port", "couldn't get a connection after 0.50 sec"),  # hung: the pool timeout, not a hang
    ],
)
async def test_a_dead_database_is_unavailable_within_the_pool_timeout(
    port_fixture: str, reason: str, request: pytest.FixtureRequest
) -> None:
    port = request.getfixturevalue(port_fixture)
    url = f"postgresql://postgres:secret-password@127.0.0.1:{port}/nowhere"
    settings = build_settings(environment="test", database_url_general=url, db_pool_timeout=0.5)
    pool = ReadPool(database_spec("general"), settings)
    try:
        with pytest.raises(DatabaseUnavailableError) as raised:
            async with pool.connection():
                pass
    finally:
        await pool.close()
    message = str(raised.value)
    assert reason in message
    assert "DATABASE_URL_GENERAL" in message
    assert "secret-password" not in message


async def _pids_of(pool: ReadPool, count: int) -> list[int]:
    """Check out ``count`` connections at once and give them back: the pool then holds them idle."""
    checkouts = [pool.connection() for _ in range(count)]
    connections = [await checkout.__aenter__() for checkout in checkouts]
    pids = [(await fetch_rows(connection, "SELECT pg_backend_pid()", {}))[0][0] for connection in connections]
    for checkout in checkouts:
        await checkout.__aexit__(None, None, None)
    return pids


async def test_after_a_server_restart_every_dead_idle_connection_is_replaced_at_once(
    general_database_url: str,
) -> None:
    # Four dead idle connections: found one checkout at a time, with the pool's growing pauses
    # between them, they would outlast the 2 s pool timeout.
    settings = build_settings(
        environment="test", database_url_general=general_database_url, db_pool_size=4, db_pool_timeout=2
    )
    pool = ReadPool(database_spec("general"), settings, ping_after_idle_seconds=0)
    try:
        dead = await _pids_of(pool, 4)
        for pid in dead:
            _terminate(general_database_url, pid)
        async with pool.connection() as connection:
            [(pid,)] = await fetch_rows(connection, "SELECT pg_backend_pid()", {})
        assert pid not in dead
        assert not set(await _pids_of(pool, 4)) & set(dead)
    finally:
        await pool.close()


async def _two_failed_checkouts(pool: ReadPool) -> list[str]:
    """The messages of two checkouts in a row, each of which must fail as unavailable."""
    messages = []
    for _ in range(2):
        with pytest.raises(DatabaseUnavailableError) as raised:
            async with pool.connection():
                pass
        messages.append(str(raised.value))
    return messages


@pytest.mark.timeout(20)
async def test_a_server_that_refuses_is_reported_at_once_every_time(closed_port: int) -> None:
    url = f"postgresql://postgres@127.0.0.1:{closed_port}/nowhere"
    settings = build_settings(environment="test", database_url_general=url, db_pool_timeout=10)
    pool = ReadPool(database_spec("general"), settings)
    try:
        messages = await asyncio.wait_for(_two_failed_checkouts(pool), timeout=5)  # not 2 x 10 s
    finally:
        await pool.close()
    assert all("connecting to the server failed" in message for message in messages)


@pytest.mark.timeout(30)
async def test_a_server_that_hangs_is_reported_when_connecting_times_out(silent_port: int) -> None:
    url = f"postgresql://postgres@127.0.0.1:{silent_port}/nowhere"
    settings = build_settings(
        environment="test", database_url_general=url, db_pool_timeout=20, db_connect_timeout=2
    )
    pool = ReadPool(database_spec("general"), settings)
    try:
        # The first checkout ends when the connect times out, the second at once: not 2 x 20 s.
        messages = await asyncio.wait_for(_two_failed_checkouts(pool), timeout=10)
    finally:
        await pool.close()
    assert all("connecting to the server failed" in message for message in messages)


async def test_a_statement_past_the_timeout_is_unavailable_and_a_bad_statement_is_not(
    general_database_url: str,
) -> None:
    settings = build_settings(
        environment="test", database_url_general=general_database_url, db_statement_timeout_ms=50
    )
    pool = ReadPool(database_spec("general"), settings)
    try:
        with pytest.raises(DatabaseUnavailableError, match="canceling statement due to statement timeout"):
            async with pool.connection() as connection:
                await fetch_rows(connection, "SELECT pg_sleep(1)", {})
        with pytest.raises(psycopg.errors.UndefinedTable):
            async with pool.connection() as connection:
                await fetch_rows(connection, "SELECT * FROM no_such_table", {})
        async with pool.connection() as connection:  # the pool still serves
            assert await fetch_rows(connection, "SELECT 1", {}) == [(1,)]
    finally:
        await pool.close()
    with pytest.raises(RuntimeError, match="closed"):
        async with pool.connection():
            pass


@pytest.mark.parametrize(
    ("error", "unavailable"),
    [
        (psycopg.OperationalError("connection refused"), True),  # the client's own: no SQLSTATE
        (psycopg.errors.QueryCanceled(), True),  # statement timeout
        (psycopg.errors.AdminShutdown(), True),
        (psycopg.errors.TooManyConnections(), True),
        (psycopg.errors.DeadlockDetected(), False),
        (psycopg.errors.UndefinedTable(), False),
        (ValueError("not a database error"), False),
    ],
)
def test_which_errors_mean_the_database_did_not_answer(error: Exception, unavailable: bool) -> None:
    assert means_unavailable(error) is unavailable
    wrapped = sqlalchemy.exc.DBAPIError("SELECT 1", {}, error, connection_invalidated=False)
    assert means_unavailable(wrapped) is (unavailable and isinstance(error, psycopg.Error))


@pytest.mark.timeout(20)
async def test_sessions_report_a_dead_database_and_pass_other_errors(
    closed_port: int, user_database_url: str
) -> None:
    dead_url = f"postgresql://postgres:secret-password@127.0.0.1:{closed_port}/nowhere"
    dead = Database(
        database_spec("user"), lambda: build_settings(environment="test", database_url_user=dead_url)
    )
    with pytest.raises(DatabaseUnavailableError, match="DATABASE_URL_USER") as raised:
        async with dead.session() as session:
            await session.execute(sqlalchemy.text("SELECT 1"))
    assert "secret-password" not in str(raised.value)
    await dead.dispose()
    settings = build_settings(
        environment="test", database_url_user=user_database_url, db_statement_timeout_ms=50
    )
    alive = Database(database_spec("user"), lambda: settings)
    try:
        with pytest.raises(sqlalchemy.exc.ProgrammingError):
            async with alive.session() as session:
                await session.execute(sqlalchemy.text("SELECT * FROM no_such_table"))
        with pytest.raises(DatabaseUnavailableError, match="statement timeout"):
            async with alive.session() as session:
                await session.execute(sqlalchemy.text("SELECT pg_sleep(1)"))
    finally:
        await alive.dispose()


async def test_a_busy_pool_is_not_taken_for_an_outage(general_database_url: str) -> None:
    settings = build_settings(
        environment="test",
        database_url_general=general_database_url,
        db_pool_size=1,
        db_max_overflow=0,
        db_pool_timeout=1.5,
    )
    pool = ReadPool(database_spec("general"), settings)
    try:
        async with pool.connection():  # the only connection, held
            messages = await _two_failed_checkouts(pool)
    finally:
        await pool.close()
    # Both waited the whole pool timeout: no connect failed, so this is load, not an outage.
    assert all("couldn't get a connection after 1.50 sec" in message for message in messages)


async def test_a_checkout_cancelled_mid_ping_gives_its_connection_back(
    general_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = build_settings(
        environment="test", database_url_general=general_database_url, db_pool_size=1, db_max_overflow=0
    )
    pool = ReadPool(database_spec("general"), settings, ping_after_idle_seconds=0)
    execute = psycopg.AsyncConnection.execute
    never = asyncio.Event()

    async def stuck_ping(self: ReadConnection, query: Any, *args: Any, **kwargs: Any) -> Any:
        if query == "SELECT 1":
            await never.wait()
        return await execute(self, query, *args, **kwargs)

    try:
        await _pids_of(pool, 1)  # one idle connection, pinged at its next checkout
        monkeypatch.setattr(psycopg.AsyncConnection, "execute", stuck_ping)
        checkout = asyncio.create_task(pool.checkout())
        await asyncio.sleep(0.1)
        checkout.cancel()
        with pytest.raises(asyncio.CancelledError):
            await checkout
        monkeypatch.undo()
        assert pool.pool.get_stats()["pool_available"] == 1  # back in the pool, not lost
    finally:
        await pool.close()


async def test_connections_carry_the_network_timeouts(general_database_url: str) -> None:
    settings = build_settings(
        environment="test", database_url_general=general_database_url, db_connect_timeout=3
    )
    pool = ReadPool(database_spec("general"), settings)
    try:
        async with pool.connection() as connection:
            parameters = connection.info.get_parameters()  # what libpq connected with
    finally:
        await pool.close()
    assert (parameters["tcp_user_timeout"], parameters["keepalives_idle"]) == ("3000", "30")
