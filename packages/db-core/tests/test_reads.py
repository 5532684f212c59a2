"""The read pool: autocommit psycopg connections with the engine's settings, replaced when dead,
and a dead database reported as ``DatabaseUnavailableError`` within the pool timeout."""

import psycopg
import pytest

from core_config import build_settings, libpq_url
from db_core import Database, DatabaseUnavailableError, ReadPool, database_spec, fetch_rows

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
    database = Database(database_spec("general"), lambda: settings, application_name="reads-test")
    try:
        async with database.reader() as connection:
            await fetch_rows(connection, "SELECT pg_sleep(0.01)", {})
            [(_, own_transaction, timezone, timeout, name)] = await fetch_rows(connection, PROBE, {})
            count_runs = "SELECT count(*) FROM sync_runs WHERE kind = %(kind)s"
            [(count,)] = await fetch_rows(connection, count_runs, {"kind": "nothing"})
    finally:
        await database.dispose()
    assert own_transaction  # no BEGIN before the reader's statements
    assert (timezone, timeout, name) == ("UTC", "1234ms", "reads-test")
    assert count == 0
    async with database.reader() as connection:  # a disposed database opens a fresh pool
        assert await fetch_rows(connection, "SELECT 1", {}) == [(1,)]
    await database.dispose()


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
@pytest.mark.parametrize("port_fixture", ["closed_port", "silent_port"])
async def test_a_dead_database_is_unavailable_within_the_pool_timeout(
    port_fixture: str, request: pytest.FixtureRequest
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
    assert "couldn't get a connection after 0.50 sec" in message  # the pool timeout, not a hang
    assert "DATABASE_URL_GENERAL" in message
    assert "secret-password" not in message
