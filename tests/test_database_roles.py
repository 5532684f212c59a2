"""infra/postgres/runtime-role.sql: runtime roles read (or read and write) rows, never the schema.

The script runs as the database's owner before the migrations, as the compose servers run it at
their first start; `db-migrate` then migrates as the owner (``DATABASE_MIGRATION_URL_GENERAL``)
while the services' URL names a runtime role; the script runs again on the migrated database, as
the Render step does. Roles are the server's, not the database's: each test makes its own.
"""

import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import errors
from test_support import scratch

from core_config import libpq_url

ROOT = Path(__file__).resolve().parents[1]
# What a change must touch for `make test-affected` to run these checks (tools/affected.py).
SUBJECTS = ("infra/postgres", "packages/db-core", "packages/db-general")
SCRIPT = ROOT / "infra/postgres/runtime-role.sql"
PSQL = shutil.which("psql")
DB_MIGRATE = Path(sys.executable).with_name("db-migrate")
# Statements that change the schema; each must be refused to every runtime role.
SCHEMA_CHANGES = (
    "CREATE TABLE intruder (id int)",
    "ALTER TABLE instruments ADD COLUMN intruder int",
    "DROP TABLE klines",
    "TRUNCATE sync_runs",
    "CREATE INDEX intruder ON klines (symbol)",
)

pytestmark = pytest.mark.skipif(PSQL is None, reason="psql (PostgreSQL's client) is not installed")


def as_role(url: str, role: str) -> str:
    """``url`` (the local server, trust auth) logged in as ``role``."""
    return libpq_url(url).replace("postgres@", f"{role}@", 1)


def run_script(url: str, role: str, access: str) -> subprocess.CompletedProcess[str]:
    assert PSQL
    return subprocess.run(
        [PSQL, libpq_url(url), "-v", f"role={role}", "-v", f"access={access}", "-f", str(SCRIPT)],
        env={**os.environ, "RUNTIME_ROLE_PASSWORD": secrets.token_urlsafe(16)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def db_migrate(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "DB_"))}
    return subprocess.run(
        [str(DB_MIGRATE), *args],
        env={**environment, "ENVIRONMENT": "test", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def refused(url: str, statement: str) -> bool:
    with psycopg.connect(url, autocommit=True) as connection:
        try:
            connection.execute(statement)
        except errors.InsufficientPrivilege:
            return True
    return False


@pytest.fixture
def roles() -> Iterator[tuple[str, str]]:
    """A reader's and a writer's name, dropped afterwards (after ``owner_url``'s database, which
    holds their grants)."""
    suffix = secrets.token_hex(4)
    names = (f"test_reader_{suffix}", f"test_writer_{suffix}")
    yield names
    with psycopg.connect(libpq_url(scratch.test_server_url()), autocommit=True) as server:
        for name in names:
            server.execute(psycopg.sql.SQL("DROP ROLE IF EXISTS {}").format(psycopg.sql.Identifier(name)))


@pytest.fixture
def owner_url(roles: tuple[str, str]) -> Iterator[str]:
    """A fresh database, connected to as its owner; dropped before the roles are."""
    with scratch.scratch_database("roles") as url:
        yield url


def test_runtime_roles_use_rows_and_never_change_the_schema(owner_url: str, roles: tuple[str, str]) -> None:
    reader, writer = roles
    for role, access in ((reader, "read"), (writer, "write")):
        made = run_script(owner_url, role, access)
        assert made.returncode == 0, made.stderr

    # The owner migrates; the services' URL (a reader) cannot, but sees the database at head.
    reader_url = as_role(owner_url, reader)
    migrated = db_migrate(
        "upgrade", "general", DATABASE_MIGRATION_URL_GENERAL=owner_url, DATABASE_URL_GENERAL=reader_url
    )
    assert migrated.returncode == 0, migrated.stderr
    assert db_migrate("current", "general", DATABASE_URL_GENERAL=reader_url).returncode == 0
    # Run again on the migrated database (the Render step): nothing changes, nothing fails.
    assert run_script(owner_url, reader, "read").returncode == 0

    writer_url = as_role(owner_url, writer)
    for url in (reader_url, writer_url):
        with psycopg.connect(url) as connection:
            assert connection.execute("SELECT count(*) FROM instruments").fetchone() == (0,)
    # Privileges are checked when a statement is planned: statements that touch no row prove them.
    writes = (
        "INSERT INTO klines SELECT * FROM klines WHERE false",
        "UPDATE sync_runs SET rows = rows WHERE false",
        "DELETE FROM instruments WHERE false",
        # An identity column's sequence: a writer's INSERT draws from it.
        "SELECT nextval(pg_get_serial_sequence('sync_runs', 'id'))",
    )
    for statement in writes:
        assert refused(reader_url, statement), statement
        assert not refused(writer_url, statement), statement
    for statement in SCHEMA_CHANGES:
        assert refused(reader_url, statement), statement
        assert refused(writer_url, statement), statement


def test_a_writer_made_a_reader_loses_its_writes(owner_url: str, roles: tuple[str, str]) -> None:
    _, role = roles
    assert run_script(owner_url, role, "write").returncode == 0
    assert db_migrate("upgrade", "general", DATABASE_MIGRATION_URL_GENERAL=owner_url).returncode == 0
    assert not refused(as_role(owner_url, role), "DELETE FROM instruments WHERE false")

    assert run_script(owner_url, role, "read").returncode == 0

    assert refused(as_role(owner_url, role), "DELETE FROM instruments WHERE false")


@pytest.mark.parametrize(
    ("variables", "complaint"),
    [
        ({"role": "x", "access": "admin"}, "access must be read or write"),
        ({"access": "read"}, "give the role"),
    ],
)
def test_a_bad_call_changes_nothing_and_says_why(
    owner_url: str, variables: dict[str, str], complaint: str
) -> None:
    assert PSQL
    flags = [part for name, value in variables.items() for part in ("-v", f"{name}={value}")]
    result = subprocess.run(
        [PSQL, libpq_url(owner_url), *flags, "-f", str(SCRIPT)],
        env={**os.environ, "RUNTIME_ROLE_PASSWORD": "unused"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode != 0
    assert complaint in result.stderr
    with psycopg.connect(libpq_url(owner_url)) as connection:
        assert connection.execute("SELECT count(*) FROM pg_roles WHERE rolname = 'x'").fetchone() == (0,)
