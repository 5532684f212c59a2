"""``Database.reads()``: autocommit connections of the database's one pool, with the engine's
settings; a database that does not answer reported as ``DatabaseUnavailableError`` at once or
within the connect timeout, by reads and sessions alike; and readiness through that same pool."""

import asyncio
from typing import Any

import psycopg
import pytest
import sqlalchemy.exc
from sqlalchemy import column, func, select, table, text
from sqlalchemy.pool import QueuePool

from core_config import build_settings, libpq_url
from db_core import (
    Database,
    DatabaseUnavailableError,
    database_spec,
    head_revisions,
    means_unavailable,
    migration_status,
)

# now() is the transaction's start: equal to the statement's start only in a transaction of its own.
PROBE = text(
    "SELECT pg_backend_pid(), now() = statement_timestamp(), current_setting('TimeZone'), "
    "current_setting('statement_timeout'), current_setting('application_name')"
)
PID = text("SELECT pg_backend_pid()")


def _terminate(url: str, pid: int) -> None:
    with psycopg.connect(libpq_url(url), autocommit=True) as connection:
        connection.execute("SELECT pg_terminate_backend(%s)", (pid,))


def _general(url: str, **settings: Any) -> Database:
    spec = database_spec("general")
    return Database(spec, build_settings(environment="test", database_url_general=url, **settings))


async def test_reads_run_in_autocommit_with_the_engine_settings_and_sessions_stay_transactional(
    general_database_url: str,
) -> None:
    spec = database_spec("general")
    settings = build_settings(
        environment="test", database_url_general=general_database_url, db_statement_timeout_ms=1234
    )
    database = Database(spec, settings, application_name="reads-test")
    runs = table("sync_runs", column("kind"))
    try:
        async with database.reads() as connection:
            await connection.execute(text("SELECT pg_sleep(0.01)"))
            _, own_transaction, timezone, timeout, name = (await connection.execute(PROBE)).one()
            count = await connection.scalar(select(func.count()).select_from(runs).where(runs.c.kind == "x"))
        # The same pool's connection, back in a session: its statements share one transaction.
        async with database.session() as session:
            await session.execute(text("SELECT pg_sleep(0.01)"))
            session_pid, in_transaction, *_ = (await session.execute(PROBE)).one()
        pool = database.async_engine().pool
        assert isinstance(pool, QueuePool)
        assert pool.checkedout() == 0
    finally:
        await database.dispose()
    assert own_transaction  # no BEGIN before the reader's statements
    assert not in_transaction
    assert (timezone, timeout, name) == ("UTC", "1234ms", "reads-test")
    assert count == 0
    assert session_pid > 0


async def test_a_read_only_database_reads_in_autocommit_and_refuses_writes(general_database_url: str) -> None:
    spec = database_spec("general")
    settings = build_settings(environment="test", database_url_general=general_database_url)
    database = Database(spec, settings, read_only=True)
    try:
        for _ in range(2):  # the second from the pool: still autocommit
            async with database.reads() as connection:
                await connection.execute(text("SELECT pg_sleep(0.01)"))
                _, own_transaction, *_ = (await connection.execute(PROBE)).one()
                assert own_transaction
        with pytest.raises(sqlalchemy.exc.InternalError, match="read-only transaction"):
            async with database.reads() as connection:
                await connection.execute(text("INSERT INTO sync_runs (kind) VALUES ('refused')"))
    finally:
        await database.dispose()


async def test_readiness_reads_the_revision_through_the_databases_pool(
    general_database_url: str, empty_database_url: str
) -> None:
    migrated, empty = _general(general_database_url), _general(empty_database_url)
    try:
        at_head, unmigrated = await migration_status(migrated), await migration_status(empty)
        pool = migrated.async_engine().pool
        assert isinstance(pool, QueuePool)
        opened = pool.checkedin(), pool.checkedout()
    finally:
        await migrated.dispose()
        await empty.dispose()
    assert at_head.at_head
    assert at_head.current == head_revisions(database_spec("general"))
    assert (unmigrated.reachable, unmigrated.current, unmigrated.at_head) == (True, (), False)
    assert opened == (1, 0)  # the status took its connection from the pool and gave it back


async def test_a_connection_lost_since_its_last_use_is_unavailable_then_replaced(
    general_database_url: str,
) -> None:
    database = _general(general_database_url, db_pool_size=1, db_max_overflow=0)
    try:
        async with database.reads() as connection:
            first = await connection.scalar(PID)
        _terminate(general_database_url, first)
        # Used a moment ago, so not pinged: it is handed out as it is, and its failure said as such.
        with pytest.raises(DatabaseUnavailableError, match="general database"):
            async with database.reads() as connection:
                await connection.execute(PID)
        async with database.reads() as connection:  # the pool replaced it
            assert await connection.scalar(PID) != first
    finally:
        await database.dispose()


@pytest.mark.timeout(20)  # a hang, not a slow answer, is what this guards against
@pytest.mark.parametrize(
    ("port_fixture", "reason"),
    [
        ("closed_port", "Connection refused"),  # refused: said at once
        ("silent_port", "timeout expired"),  # hung: the connect timeout, not a hang
    ],
)
async def test_a_dead_database_is_unavailable_within_the_connect_timeout(
    port_fixture: str, reason: str, request: pytest.FixtureRequest
) -> None:
    port = request.getfixturevalue(port_fixture)
    url = f"postgresql+psycopg://postgres:secret-password@127.0.0.1:{port}/nowhere"
    database = _general(url, db_connect_timeout=2)
    try:
        with pytest.raises(DatabaseUnavailableError) as raised:
            async with database.reads():
                pass
    finally:
        await database.dispose()
    message = str(raised.value)
    assert reason in message
    assert "DATABASE_URL_GENERAL" in message
    assert "secret-password" not in message


async def _two_failed_reads(database: Database) -> list[str]:
    """The messages of two reads in a row, each of which must fail as unavailable."""
    messages = []
    for _ in range(2):
        with pytest.raises(DatabaseUnavailableError) as raised:
            async with database.reads() as connection:
                await connection.execute(PID)
        messages.append(str(raised.value))
    return messages


@pytest.mark.timeout(20)
async def test_a_server_that_refuses_is_reported_at_once_every_time(closed_port: int) -> None:
    database = _general(f"postgresql+psycopg://postgres@127.0.0.1:{closed_port}/nowhere", db_pool_timeout=10)
    try:
        messages = await asyncio.wait_for(_two_failed_reads(database), timeout=5)  # not 2 x 10 s
    finally:
        await database.dispose()
    assert all("Connection refused" in message for message in messages)


@pytest.mark.timeout(30)
async def test_a_server_that_hangs_is_reported_when_connecting_times_out(silent_port: int) -> None:
    url = f"postgresql+psycopg://postgres@127.0.0.1:{silent_port}/nowhere"
    database = _general(url, db_pool_timeout=20, db_connect_timeout=2)
    try:
        # Each read ends when its connect times out: not 2 x 20 s of pool timeout.
        messages = await asyncio.wait_for(_two_failed_reads(database), timeout=10)
    finally:
        await database.dispose()
    assert all("timeout expired" in message for message in messages)


async def test_a_statement_past_the_timeout_is_unavailable_and_a_bad_statement_is_not(
    general_database_url: str,
) -> None:
    database = _general(general_database_url, db_statement_timeout_ms=50)
    try:
        with pytest.raises(DatabaseUnavailableError, match="canceling statement due to statement timeout"):
            async with database.reads() as connection:
                await connection.execute(text("SELECT pg_sleep(1)"))
        with pytest.raises(sqlalchemy.exc.ProgrammingError, match="no_such_table"):
            async with database.reads() as connection:
                await connection.execute(text("SELECT * FROM no_such_table"))
        async with database.reads() as connection:  # the pool still serves
            assert await connection.scalar(text("SELECT 1")) == 1
    finally:
        await database.dispose()


@pytest.mark.parametrize(
    ("error", "unavailable"),
    [
        (psycopg.OperationalError("connection refused"), True),  # the client's own: no SQLSTATE
        (psycopg.errors.QueryCanceled(), True),  # statement timeout
        (psycopg.errors.AdminShutdown(), True),
        (psycopg.errors.TooManyConnections(), True),
        (psycopg.errors.DeadlockDetected(), False),
        (psycopg.errors.UndefinedTable(), False),
        (sqlalchemy.exc.TimeoutError("QueuePool limit reached"), True),  # no pooled connection in time
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
    dead = Database(database_spec("user"), build_settings(environment="test", database_url_user=dead_url))
    with pytest.raises(DatabaseUnavailableError, match="DATABASE_URL_USER") as raised:
        async with dead.session() as session:
            await session.execute(text("SELECT 1"))
    assert "secret-password" not in str(raised.value)
    await dead.dispose()
    settings = build_settings(
        environment="test", database_url_user=user_database_url, db_statement_timeout_ms=50
    )
    alive = Database(database_spec("user"), settings)
    try:
        with pytest.raises(sqlalchemy.exc.ProgrammingError):
            async with alive.session() as session:
                await session.execute(text("SELECT * FROM no_such_table"))
        with pytest.raises(DatabaseUnavailableError, match="statement timeout"):
            async with alive.session() as session:
                await session.execute(text("SELECT pg_sleep(1)"))
    finally:
        await alive.dispose()


async def test_a_pool_with_every_connection_taken_is_unavailable_after_the_pool_timeout(
    general_database_url: str,
) -> None:
    database = _general(general_database_url, db_pool_size=1, db_max_overflow=0, db_pool_timeout=1.5)
    try:
        async with database.reads():  # the only connection, held
            messages = await _two_failed_reads(database)
        async with database.reads() as connection:  # given back, it serves again
            assert await connection.scalar(text("SELECT 1")) == 1
    finally:
        await database.dispose()
    # Each waited the pool timeout for a connection, and says so.
    assert all("QueuePool limit of size 1 overflow 0 reached" in message for message in messages)
    assert all("timeout 1.50" in message for message in messages)


async def test_connections_carry_the_network_timeouts(general_database_url: str) -> None:
    database = _general(general_database_url, db_connect_timeout=3)
    try:
        async with database.reads() as connection:
            driver = (await connection.get_raw_connection()).driver_connection
            assert driver is not None
            parameters = driver.info.get_parameters()  # what libpq connected with
    finally:
        await database.dispose()
    assert (parameters["tcp_user_timeout"], parameters["keepalives_idle"]) == ("3000", "30")
