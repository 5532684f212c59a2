"""Throw-away databases on a PostgreSQL server, for tests and benchmarks.

Names are unique per call (``test_<label>_<random>``) so concurrent runs never collide; dropping
forces out leftover connections.
"""

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

from core_config import database_name, libpq_url, with_database

DEFAULT_TEST_SERVER_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def test_server_url() -> str:
    """The maintenance database of the test server: ``TEST_DATABASE_URL`` or the local default."""
    return os.environ.get("TEST_DATABASE_URL") or DEFAULT_TEST_SERVER_URL


def create_database(server_url: str, label: str) -> str:
    """Create an empty database with a unique name; return its SQLAlchemy URL."""
    name = f"test_{label}_{secrets.token_hex(4)}"
    with psycopg.connect(libpq_url(server_url), autocommit=True, connect_timeout=5) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return with_database(server_url, name)


def drop_database(server_url: str, url: str) -> None:
    """Drop the database ``url`` names, closing any connection still open to it."""
    name = database_name(url)
    with psycopg.connect(libpq_url(server_url), autocommit=True, connect_timeout=5) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextmanager
def scratch_database(label: str, server_url: str | None = None) -> Iterator[str]:
    """An empty database for the ``with`` block, dropped afterwards."""
    server = server_url or test_server_url()
    url = create_database(server, label)
    try:
        yield url
    finally:
        drop_database(server, url)
