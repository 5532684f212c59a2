"""A worker does not run new code on an old schema: it waits until the general database is migrated.

Deploys migrate in the API's pre-deploy step; a worker deployed at the same time can start first.
It then waits, saying what it waits for, until the database's revision is the head of the
migrations this code ships. A database at a revision this code does not know (newer code rolled
back) is not waited for: the schema only ever grows, so old code runs on it.
"""

import time
from collections.abc import Callable

from alembic.script import ScriptDirectory

from core_config import Settings, get_logger
from db_core import MigrationStatus, alembic_config, current_status
from db_general import GENERAL_DB

logger = get_logger(__name__)
POLL_SECONDS = 5.0


def _known_revisions() -> set[str]:
    scripts = ScriptDirectory.from_config(alembic_config(GENERAL_DB))
    return {script.revision for script in scripts.walk_revisions()}


def waiting_for(status: MigrationStatus, known: set[str]) -> str | None:
    """What the worker waits for, or None when it may start."""
    if not status.reachable:
        return status.describe()
    if status.at_head or (status.current and not set(status.current) <= known):
        return None
    current = ", ".join(status.current) or "none"
    return (
        f"{status.database} database at revision {current}, this code expects {', '.join(status.head)}"
        " (the pre-deploy migration has not run yet)"
    )


def wait_for_schema(
    settings: Settings,
    *,
    poll_seconds: float = POLL_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Return once the general database is at this code's head revision; log while waiting."""
    known = _known_revisions()
    said = None
    while (reason := waiting_for(current_status(GENERAL_DB, settings), known)) is not None:
        if reason != said:
            logger.warning(f"worker waiting: {reason}", database=GENERAL_DB.name)
            said = reason
        sleep(poll_seconds)
    if said is not None:
        logger.info("general database ready; worker starting", database=GENERAL_DB.name)
