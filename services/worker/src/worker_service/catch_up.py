"""What beat sends when it starts: the instruments sync, when none succeeded within its period.

Beat syncs the instruments at the top of every hour; a new deployment, the first `make run` or a
service back from a long outage would otherwise list none until then. The message carries a task
id of the hour, so two beats starting together (a deploy) send one sync (one ``sync_runs`` row).
"""

from datetime import UTC, datetime, timedelta

from celery import Celery

from core_config import get_logger
from db_core import Database
from db_general import last_success
from worker_contract import SYNC_INSTRUMENTS, SyncInstrumentsArgs

logger = get_logger(__name__)
# Beat's instruments period (``schedule``): a success within it needs no catching up.
INSTRUMENTS_PERIOD = timedelta(hours=1)


def catch_up_instruments(app: Celery, database: Database, queue: str) -> str | None:
    """Send the instruments sync when the last one that succeeded is older than its period; its
    task id, or None when nothing was due."""
    now = datetime.now(UTC)
    with database.sync_session() as session:
        last = last_success(session, "instruments")
    if last is not None and now - last < INSTRUMENTS_PERIOD:
        return None
    task_id = f"instruments-catch-up-{now:%Y%m%dT%H}"
    arguments = SyncInstrumentsArgs(category=None)
    app.send_task(SYNC_INSTRUMENTS, kwargs=dict(arguments), queue=queue, task_id=task_id)
    logger.info("instruments sync sent", task_id=task_id, last_success=last and last.isoformat())
    return task_id
