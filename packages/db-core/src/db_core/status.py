"""``migration_status``: is a database reachable and migrated to head? (the API's readiness probe)."""

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from db_core.engines import unavailable
from db_core.migrations import MigrationStatus, head_revisions, stored_revisions
from db_core.spec import DatabaseSpec


async def migration_status(engine: AsyncEngine, spec: DatabaseSpec) -> MigrationStatus:
    """Connect through ``engine``'s pool and compare the stored revision with the scripts' head.

    Never raises for an unreachable database: the status says so. The caller bounds the wait
    (the engine's connect timeout, or its own ``asyncio.timeout``).
    """
    try:
        async with engine.connect() as connection:
            current = await connection.run_sync(stored_revisions, spec)
    except (OperationalError, DBAPIError, OSError) as exc:
        url = engine.url.render_as_string(hide_password=True)
        return MigrationStatus(spec.name, reachable=False, error=str(unavailable(spec, url, exc)))
    return MigrationStatus(spec.name, reachable=True, current=current, head=head_revisions(spec))
