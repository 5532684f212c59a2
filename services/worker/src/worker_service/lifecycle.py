"""What happens around the worker's and beat's lives: our logging, the heartbeat, closing database
connections, beat's catch-up of the instruments at its start.

The receivers find the app's settings and database on ``current_app`` (a ``WorkerApp``).
"""

from typing import Any, cast

from celery import current_app, signals

from core_config import Settings, configure_logging, get_logger
from db_core import Database
from worker_service.catch_up import catch_up_instruments
from worker_service.heartbeat import Heartbeat
from worker_service.log_lines import shorten_task_lines

logger = get_logger(__name__)


def _settings() -> Settings | None:
    settings = getattr(current_app, "settings", None)
    return settings if isinstance(settings, Settings) else None


def _on_setup_logging(**_: Any) -> None:
    # Connecting any receiver here stops Celery from installing its own handlers.
    settings = _settings()
    if settings is not None:
        configure_logging(settings.log_level, json_lines=settings.json_logs)
    shorten_task_lines()


def _on_worker_ready(sender: Any, **_: Any) -> None:
    settings = _settings()
    if settings is None:
        return
    heartbeat = Heartbeat(
        settings.redis_url.get_secret_value(),
        settings.celery_queue,
        sender.hostname,
        settings.worker_heartbeat_interval,
    )
    heartbeat.start()
    # Kept on the app it beats for (a WorkerApp, which lifecycle cannot import: it imports this
    # module), stopped when that worker shuts down.
    cast(Any, current_app).heartbeat = heartbeat
    logger.info("worker ready", node=sender.hostname, queue=settings.celery_queue)


def _on_beat_init(**_: Any) -> None:
    settings = _settings()
    database = getattr(current_app, "general_db", None)
    if settings is None or not isinstance(database, Database):
        return
    try:
        catch_up_instruments(current_app, database, settings.celery_queue)
    except Exception as exc:  # a start-up nicety: the hourly schedule stays
        logger.warning("instruments catch-up not sent", error=type(exc).__name__)
    finally:
        database.dispose_sync()


def _close_database(**_: Any) -> None:
    database = getattr(current_app, "general_db", None)
    if isinstance(database, Database):
        database.dispose_sync()


def _on_worker_shutdown(**kwargs: Any) -> None:
    heartbeat = getattr(current_app, "heartbeat", None)
    if isinstance(heartbeat, Heartbeat):
        heartbeat.stop()
    _close_database(**kwargs)


def connect_signals() -> None:
    """Connect the receivers (once per process: connecting again changes nothing)."""
    signals.setup_logging.connect(_on_setup_logging, weak=False, dispatch_uid="worker_service.logging")
    signals.worker_ready.connect(_on_worker_ready, weak=False, dispatch_uid="worker_service.ready")
    signals.beat_init.connect(_on_beat_init, weak=False, dispatch_uid="worker_service.beat")
    signals.worker_shutdown.connect(_on_worker_shutdown, weak=False, dispatch_uid="worker_service.shutdown")
    # Prefork pool processes hold their own database connections.
    signals.worker_process_shutdown.connect(
        _close_database, weak=False, dispatch_uid="worker_service.process"
    )
