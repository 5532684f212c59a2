"""Bulk loading with COPY, the fast path of the upserts: straight into a table, or into a temporary
staging table.

One ``INSERT .. SELECT .. ON CONFLICT`` from the staging table then merges everything in a single
statement, instead of one round trip per row.
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


def column_list(names: Iterable[str], prefix: str = "") -> str:
    """``names`` as a comma-separated SQL list, each after ``prefix`` (``"excluded."``): for column
    names taken from the table metadata, never from input."""
    return ", ".join(prefix + name for name in names)


def driver_connection(session: Session) -> PsycopgConnection[Any]:
    """The psycopg connection under ``session``'s, in its transaction: for COPY and for statements
    whose large array parameters or results skip SQLAlchemy's per-row work."""
    raw = session.connection().connection.driver_connection
    if not isinstance(raw, PsycopgConnection):
        raise TypeError("bulk loading needs a sync Session on the psycopg (3) driver")
    return raw


def copy_rows(
    session: Session,
    *,
    table: str,
    columns: Sequence[str],
    types: Sequence[str],
    rows: Iterable[Sequence[Any]],
) -> None:
    """COPY ``rows`` (values in the order of ``columns``, of the COPY ``types``) into ``table``."""
    column_list = sql.SQL(", ").join(map(sql.Identifier, columns))
    statement = sql.SQL("COPY {table} ({cols}) FROM STDIN").format(
        table=sql.Identifier(table), cols=column_list
    )
    with driver_connection(session).cursor() as cursor, cursor.copy(statement) as copy:
        copy.set_types(list(types))
        for row in rows:
            copy.write_row(row)


def load_staging(
    session: Session,
    *,
    target: str,
    columns: Sequence[str],
    types: Sequence[str],
    rows: Iterable[Sequence[Any]],
) -> str:
    """COPY ``rows`` into a session-private temporary copy of ``target``'s ``columns``; return its name.

    The staging table lives as long as the connection and is emptied at every commit and every call.
    """
    stage = f"_stage_{target}"
    connection = driver_connection(session)
    column_list = sql.SQL(", ").join(map(sql.Identifier, columns))
    # CREATE TABLE .. AS copies no NOT NULL constraints, so rows may omit columns the merge fills in.
    connection.execute(
        sql.SQL(
            "CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS"
            " AS SELECT {cols} FROM {target} WITH NO DATA"
        ).format(stage=sql.Identifier(stage), cols=column_list, target=sql.Identifier(target))
    )
    connection.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(stage)))
    copy_rows(session, table=stage, columns=columns, types=types, rows=rows)
    return stage
