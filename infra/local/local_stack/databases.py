"""Both databases made ready: created on their server when missing, then migrated with ``db-migrate``."""

import psycopg
from psycopg import sql

from core_config import database_name, libpq_url, mask_password, with_database
from local_stack.errors import StackError

_CONNECT_TIMEOUT = 5


def ensure_database(url: str) -> bool:
    """Create the database ``url`` names when its server lacks it; True when it was created.

    Connects to the server's ``postgres`` maintenance database, as ``createdb`` does.
    """
    name = database_name(url)
    try:
        with psycopg.connect(
            libpq_url(with_database(url, "postgres")), autocommit=True, connect_timeout=_CONNECT_TIMEOUT
        ) as connection:
            if connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
                return False
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.Error as exc:
        # psycopg's messages name the host and database, never the password.
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        host = mask_password(with_database(url, name))
        raise StackError(f"cannot prepare database {name} ({host}): {reason}") from None
    return True
