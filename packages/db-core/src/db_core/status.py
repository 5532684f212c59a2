"""``migration_status``: is a database reachable and migrated to head? (the API's readiness probe)."""

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from db_core.engines import unavailable
from db_core.errors import DatabaseUnavailableError
from db_core.migrations import MigrationStatus, head_revisions, stored_revisions
from db_core.reads import ReadPool
from db_core.spec import DatabaseSpec


async def migration_status(pool: AsyncEngine | ReadPool, spec: DatabaseSpec) -> MigrationStatus:
    """Connect through ``pool`` (the process's one pool for the database: its engine or its read
    pool) and compare the stored revision with the scripts' head.

    Never raises for an unreachable database: the status says so. The caller bounds the wait
    (the pool's timeouts, or its own ``asyncio.timeout``).
    """
    try:
        if isinstance(pool, ReadPool):
            current = await pool.stored_revisions()
        else:
            async with pool.connect() as connection:
                current = await connection.run_sync(stored_revisions, spec)
    except DatabaseUnavailableError as exc:
        return MigrationStatus(spec.name, reachable=False, error=str(exc))
    except (OperationalError, DBAPIError, OSError) as exc:
        url = pool.url if isinstance(pool, ReadPool) else pool.url.render_as_string(hide_password=True)
        return MigrationStatus(spec.name, reachable=False, error=str(unavailable(spec, url, exc)))
    return MigrationStatus(spec.name, reachable=True, current=current, head=head_revisions(spec))
