"""A worker whose code expects a newer general-database revision waits, says so, then starts."""

import time

from pydantic import SecretStr
from test_support.scratch import scratch_database
from test_support.worker_process import WorkerProcess, wait_until

from core_config import Settings
from db_core import upgrade
from db_general import GENERAL_DB


def test_the_worker_waits_for_the_migration_then_consumes(worker_settings: Settings) -> None:
    with scratch_database("worker_schema_wait") as url:
        upgrade(GENERAL_DB, worker_settings, "0001", url=url)  # the deploy's migration has not run yet
        settings = worker_settings.model_copy(update={"database_url_general": SecretStr(url)})
        worker = WorkerProcess(settings).start(wait=False)
        try:
            wait_until(lambda: "worker waiting" in worker.output(), 60, "the worker to say it waits")
            time.sleep(1)
            assert not worker.consuming  # no task taken on the old schema
            assert "database at revision 0001, this code expects" in worker.output()
            upgrade(GENERAL_DB, settings, url=url)
            worker.wait_ready(60)
        finally:
            worker.stop()
