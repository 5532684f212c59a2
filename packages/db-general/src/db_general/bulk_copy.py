"""COPY of rows into a table: how the bulk upserts send new rows (``db_general.upserts``).

SQLAlchemy has no COPY, so this is the one place the general database's code uses psycopg
directly, on the connection of the caller's session and in its transaction.
"""

from collections.abc import Iterable, Sequence
from typing import Any

from psycopg import Connection as PsycopgConnection
from psycopg import sql
from sqlalchemy import Table
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session


def copy_types(table: Table, columns: Sequence[str]) -> tuple[str, ...]:
    """The PostgreSQL types of ``table``'s ``columns`` as COPY names them (``numeric``, ``jsonb``, ...)."""
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    return tuple(table.c[name].type.compile(dialect=dialect).lower() for name in columns)


def copy_rows(
    session: Session,
    *,
    table: str,
    columns: Sequence[str],
    types: Sequence[str],
    rows: Iterable[Sequence[Any]],
) -> None:
    """COPY ``rows`` (values in the order of ``columns``, of the COPY ``types``) into ``table``."""
    driver = session.connection().connection.driver_connection
    if not isinstance(driver, PsycopgConnection):
        raise TypeError("COPY needs a sync Session on the psycopg (3) driver")
    statement = sql.SQL("COPY {table} ({columns}) FROM STDIN").format(
        table=sql.Identifier(table), columns=sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    with driver.cursor() as cursor, cursor.copy(statement) as copy:
        copy.set_types(list(types))
        for row in rows:
            copy.write_row(row)
