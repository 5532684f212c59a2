"""The Celery application, configured from core-config's settings only.

Redis is both broker and result backend. Tasks are acknowledged only after they finish
(``acks_late``), so a task whose worker dies is handed to another worker once the broker's
visibility timeout has passed; every task is therefore written to be safe to run twice, and none
runs longer than a chunk (``SYNC_CHUNK_SECONDS``), so that timeout is short. On SIGTERM the worker
stops taking tasks, lets running ones finish for ``WORKER_SOFT_SHUTDOWN_TIMEOUT`` seconds, then
puts the rest back in the queue at once (Celery's soft shutdown; see ``cli``). Beat keeps its
schedule and a single-instance lock in Redis (RedBeat), so two overlapping beats send each
entry once.
"""

from functools import cached_property
from typing import Any

from celery import Celery
from redis import Redis

from bybit_client.redis_budget import RedisBudget
from core_config import Settings
from db_core import Database
from db_general import GENERAL_DB
from worker_service.bybit_budget import sync_budget
from worker_service.deliveries import DeliveryLedger
from worker_service.heartbeat import Heartbeat
from worker_service.lifecycle import connect_signals
from worker_service.schedule import beat_schedule
from worker_service.timing import check_timing

APPLICATION_NAME = "worker"
TASK_MODULES = ["worker_service.tasks"]
BEAT_MAX_LOOP_SECONDS = 5
BEAT_LOCK_SECONDS = 30


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
        "worker_soft_shutdown_timeout": settings.worker_soft_shutdown_timeout,
        "beat_schedule": beat_schedule(settings),
        **beat_config(settings),
    }


def beat_config(settings: Settings) -> dict[str, Any]:
    """RedBeat: schedule state and the lock in Redis, under keys of the queue's own.

    A beat holds the lock while it runs and renews it at every tick (at most every
    ``BEAT_MAX_LOOP_SECONDS``); a second beat waits for it. A beat that died without releasing it
    is replaced once the lock expires (``BEAT_LOCK_SECONDS``).
    """
    return {
        "beat_scheduler": "worker_service.beat_scheduler:OneSyncPerPeriod",
        "redbeat_redis_url": settings.redis_url.get_secret_value(),
        # Its own options for its Redis client (it would otherwise fall back to the broker's
        # transport options, which it warns are not meant for it): a Redis that stops answering
        # fails a tick within seconds instead of hanging beat.
        "redbeat_redis_options": {"socket_timeout": 5, "socket_connect_timeout": 5},
        "redbeat_key_prefix": f"redbeat:{settings.celery_queue}:",
        "redbeat_lock_timeout": BEAT_LOCK_SECONDS,
        "beat_max_loop_interval": BEAT_MAX_LOOP_SECONDS,
    }


class WorkerApp(Celery):
    """The Celery app plus what its tasks share in one process: the settings and the general database."""

    def __init__(self, settings: Settings) -> None:
        super().__init__("worker_service", include=TASK_MODULES, set_as_current=True)
        self.settings = settings
        # Engines are created on first use, so each forked pool process gets its own connections.
        self.general_db = Database(GENERAL_DB, settings, application_name=APPLICATION_NAME)
        # The worker's heartbeat in Redis, from its start to its shutdown (``lifecycle``).
        self.heartbeat: Heartbeat | None = None
        self.conf.update(celery_config(settings))

    @cached_property
    def redis(self) -> Redis:
        """This process's Redis client for its own keys (the broker has its own connections)."""
        return Redis.from_url(
            self.settings.redis_url.get_secret_value(), socket_timeout=5, socket_connect_timeout=5
        )

    @cached_property
    def deliveries(self) -> DeliveryLedger:
        """This process's count of task deliveries (poison messages)."""
        return DeliveryLedger(self.redis, self.settings.celery_queue)

    @cached_property
    def bybit_budget(self) -> RedisBudget:
        """This process's share of the Bybit call budget, shared in Redis with the api and the stream."""
        return sync_budget(self.settings, self.redis)


def create_app(settings: Settings) -> WorkerApp:
    """A configured app with the tasks registered; ``ConfigError`` for time settings that cannot work."""
    check_timing(settings)
    connect_signals()
    app = WorkerApp(settings)
    app.loader.import_default_modules()
    return app
