"""The Celery application, configured from core-config's settings only.

Redis is both broker and result backend. Tasks are acknowledged only after they finish
(``acks_late``), so a task whose worker dies is handed to another worker once the broker's
visibility timeout has passed; every task is therefore written to be safe to run twice.
"""

import logging
from typing import Any

from celery import Celery

from core_config import Settings
from db_core import Database
from db_general import GENERAL_DB
from worker_service.lifecycle import connect_signals
from worker_service.schedule import beat_schedule

APPLICATION_NAME = "worker"
TASK_MODULES = ["worker_service.tasks"]
logger = logging.getLogger(__name__)


def broker_transport_options(visibility_timeout: int) -> dict[str, Any]:
    """Redis transport options: the visibility timeout, and sweeps for abandoned tasks to match it.

    Each worker looks for tasks whose worker died (unacknowledged past the visibility timeout) every
    ``unacked_restore_interval`` seconds; kombu's default would look only every 100 s.
    """
    return {
        "visibility_timeout": visibility_timeout,
        "unacked_restore_interval": max(1, min(10, visibility_timeout // 4)),
        "unacked_restore_throttle": 1,
    }


def celery_config(settings: Settings) -> dict[str, Any]:
    """Celery's settings, derived from ours."""
    redis_url = settings.redis_url.get_secret_value()
    return {
        "broker_url": redis_url,
        "result_backend": redis_url,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        "task_default_queue": settings.celery_queue,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        # One message at a time per process: a long sync never holds others hostage.
        "worker_prefetch_multiplier": 1,
        # Lets the API tell "running" from "pending".
        "task_track_started": True,
        "task_soft_time_limit": settings.task_soft_time_limit,
        "task_time_limit": settings.task_time_limit,
        "broker_transport_options": broker_transport_options(settings.celery_visibility_timeout),
        "broker_connection_retry_on_startup": True,
        # Keep reconnecting for as long as Redis is away (a restart, a failover) instead of exiting.
        "broker_connection_max_retries": None,
        # With acks_late a task cut off by a lost connection is redelivered anyway: stop this run.
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "result_expires": settings.task_result_ttl,
        "redis_socket_connect_timeout": 5,
        "redis_socket_timeout": 30,
        "redis_retry_on_timeout": True,
        "redis_backend_health_check_interval": 10,
        "worker_concurrency": settings.worker_concurrency,
        "worker_hijack_root_logger": False,
        "worker_send_task_events": False,
        "timezone": "UTC",
        "enable_utc": True,
        "beat_schedule": beat_schedule(settings),
    }


class WorkerApp(Celery):
    """The Celery app plus what its tasks share in one process: the settings and the general database."""

    def __init__(self, settings: Settings) -> None:
        super().__init__("worker_service", include=TASK_MODULES, set_as_current=True)
        self.settings = settings
        # Engines are created on first use, so each forked pool process gets its own connections.
        self.general_db = Database(GENERAL_DB, settings=lambda: settings, application_name=APPLICATION_NAME)
        self.conf.update(celery_config(settings))


def create_app(settings: Settings) -> WorkerApp:
    """A configured app with the tasks registered."""
    if settings.celery_visibility_timeout <= settings.task_time_limit:
        logger.warning(
            "CELERY_VISIBILITY_TIMEOUT (%ss) is not above TASK_TIME_LIMIT (%ss): a long task may be "
            "handed to a second worker while the first still runs it",
            settings.celery_visibility_timeout,
            settings.task_time_limit,
        )
    connect_signals()
    app = WorkerApp(settings)
    app.loader.import_default_modules()
    return app
