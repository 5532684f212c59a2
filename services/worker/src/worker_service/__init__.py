"""worker-service: the Celery worker and beat that keep the general database in sync with Bybit.

``create_app(settings)`` builds the Celery app with its tasks; ``worker-service worker|beat|health``
runs it. The task names (``worker.ping``, ``sync.instruments``, ``sync.klines``) are the contract
with the API, which sends them without importing this package.

Names are imported on first use, so that ``worker-service health`` (a liveness probe run every
few seconds) starts without loading Celery, SQLAlchemy and the Bybit client.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from worker_service.celery_app import WorkerApp, celery_config, create_app
    from worker_service.schedule import beat_schedule
    from worker_service.syncing import SyncContext, SyncRequestError, sync_instruments, sync_klines
    from worker_service.task_names import PING, SYNC_INSTRUMENTS, SYNC_KLINES

_HOMES = {
    "WorkerApp": "celery_app",
    "celery_config": "celery_app",
    "create_app": "celery_app",
    "beat_schedule": "schedule",
    "SyncContext": "syncing",
    "SyncRequestError": "syncing",
    "sync_instruments": "syncing",
    "sync_klines": "syncing",
    "PING": "task_names",
    "SYNC_INSTRUMENTS": "task_names",
    "SYNC_KLINES": "task_names",
}

__all__ = [
    "PING",
    "SYNC_INSTRUMENTS",
    "SYNC_KLINES",
    "SyncContext",
    "SyncRequestError",
    "WorkerApp",
    "beat_schedule",
    "celery_config",
    "create_app",
    "sync_instruments",
    "sync_klines",
]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'worker_service' has no attribute {name!r}")
    return getattr(import_module(f"worker_service.{_HOMES[name]}"), name)
