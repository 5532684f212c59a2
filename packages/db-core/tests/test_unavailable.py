"""A database that does not answer gives a clear error within the connect timeout, never a hang."""

import pytest

from core_config import build_settings
from db_core import (
    Database,
    DatabaseUnavailableError,
    database_spec,
    migration_status,
    upgrade,
)

# pytest-timeout turns a hang into a failure; the connect timeout under test is 1 s.
pytestmark = pytest.mark.timeout(20)


def dead_url(port: int) -> str:
    return f"postgresql+psycopg://postgres:s3cret-pw@127.0.0.1:{port}/bybit_user"


def test_closed_port_fails_with_a_clear_error(closed_port: int) -> None:
    settings = build_settings(environment="test", db_connect_timeout=1)
    with pytest.raises(DatabaseUnavailableError) as caught:
        upgrade(database_spec("user"), settings, url=dead_url(closed_port))
    message = str(caught.value)
    assert message.startswith("the user database (DATABASE_URL_USER: 127.0.0.1:")
    assert "does not answer" in message
    assert "s3cret-pw" not in message


def test_silent_server_fails_after_the_connect_timeout(silent_port: int) -> None:
    settings = build_settings(environment="test", db_connect_timeout=1)
    with pytest.raises(DatabaseUnavailableError, match="does not answer"):
        upgrade(database_spec("general"), settings, url=dead_url(silent_port))


async def test_migration_status_reports_a_silent_server_as_unreachable(silent_port: int) -> None:
    url = dead_url(silent_port)
    database = Database(
        database_spec("user"), build_settings(environment="test", db_connect_timeout=1, database_url_user=url)
    )
    try:
        status = await migration_status(database)
    finally:
        await database.dispose()
    assert not status.reachable
    assert not status.at_head
    assert status.error is not None
    assert "s3cret-pw" not in status.error
