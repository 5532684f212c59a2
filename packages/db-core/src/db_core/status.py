"""Is a database reachable and migrated to head? (the API's readiness probe, ``db-migrate current``).

The stored revision is read with one query on the version table and compared with the spec's
``head_revision`` (read from the script files): Alembic's runtime, which loads Mako and imports
every revision script, is never loaded to answer it.
"""

from dataclasses import dataclass

from sqlalchemy import Connection, String, column, create_engine, select, table
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError
from sqlalchemy.pool import NullPool

from core_config import Settings
from db_core.engines import unavailable
from db_core.errors import DatabaseUnavailableError
from db_core.sessions import Database
from db_core.spec import DatabaseSpec


@dataclass(frozen=True)
class MigrationStatus:
    """Whether a database answers and is migrated to the head of its scripts."""

    database: str
    reachable: bool
    current: tuple[str, ...] = ()
    head: tuple[str, ...] = ()
    error: str | None = None

    @property
    def at_head(self) -> bool:
        return self.reachable and bool(self.current) and self.current == self.head

    def describe(self) -> str:
        if not self.reachable:
            return f"{self.database}: unreachable ({self.error})"
        state = "at head" if self.at_head else f"NOT at head (head {', '.join(self.head) or '-'})"
        return f"{self.database}: {state}, current {', '.join(self.current) or 'none'}"


def stored_revisions(connection: Connection, spec: DatabaseSpec) -> tuple[str, ...]:
    """The revision(s) recorded in the database's version table (empty before the first upgrade)."""
    query = select(column("version_num", String)).select_from(table(spec.version_table))
    try:
        revisions = connection.execute(query).scalars().all()
    except ProgrammingError as exc:
        if getattr(exc.orig, "sqlstate", None) == "42P01":  # undefined_table: never migrated
            return ()
        raise
    return tuple(sorted(revisions))


def _reached(spec: DatabaseSpec, current: tuple[str, ...]) -> MigrationStatus:
    return MigrationStatus(spec.name, reachable=True, current=current, head=(spec.head_revision,))


async def migration_status(database: Database) -> MigrationStatus:
    """Read the stored revision through ``database``'s read connections (the pool the routes
    use) and compare it with the scripts' head.

    Never raises for an unreachable database: the status says so. The caller bounds the wait
    (the pool's timeouts, or its own ``asyncio.timeout``).
    """
    spec = database.spec
    try:
        async with database.reads() as connection:
            current = await connection.run_sync(stored_revisions, spec)
    except DatabaseUnavailableError as exc:
        return MigrationStatus(spec.name, reachable=False, error=str(exc))
    except DBAPIError as exc:  # answered, but refused us (a login, a permission)
        url = database.async_engine().url.render_as_string(hide_password=True)
        return MigrationStatus(spec.name, reachable=False, error=str(unavailable(spec, url, exc)))
    return _reached(spec, current)


def current_status(spec: DatabaseSpec, settings: Settings, *, url: str | None = None) -> MigrationStatus:
    """The sync ``MigrationStatus`` of ``spec``'s database (for the CLI)."""
    target = url or spec.url(settings)
    engine = create_engine(
        target, poolclass=NullPool, connect_args={"connect_timeout": settings.db_connect_timeout}
    )
    try:
        with engine.connect() as connection:
            current = stored_revisions(connection, spec)
    except OperationalError as exc:
        return MigrationStatus(spec.name, reachable=False, error=str(unavailable(spec, target, exc)))
    finally:
        engine.dispose()
    return _reached(spec, current)
