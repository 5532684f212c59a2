"""worker-service: the Celery worker and beat that keep the general database in sync with Bybit.

``create_app(settings)`` builds the Celery app with its tasks; ``worker-service worker|beat|health``
runs it. The task names and arguments are the contract with the API, declared once in
``db_general.task_contract``; the API sends them without importing this package.

Names are imported on first use, so that ``worker-service health`` (a liveness probe run every
few seconds) starts without loading Celery, SQLAlchemy and the Bybit client.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from worker_service.celery_app import WorkerApp, celery_config, create_app
    from worker_service.schedule import beat_schedule
    from worker_service.syncing import (
        Continuation,
        SyncContext,
        SyncRequestError,
        instruments_chunk,
        klines_chunk,
        sync_instruments,
        sync_klines,
    )
    from worker_service.timing import check_timing

_HOMES = {
    "WorkerApp": "celery_app",
    "celery_config": "celery_app",
    "create_app": "celery_app",
    "beat_schedule": "schedule",
    "SyncContext": "syncing",
    "SyncRequestError": "syncing",
    "sync_instruments": "syncing",
    "sync_klines": "syncing",
    "Continuation": "syncing",
    "instruments_chunk": "syncing",
    "klines_chunk": "syncing",
    "check_timing": "timing",
}

__all__ = [
    "Continuation",
    "SyncContext",
    "SyncRequestError",
    "WorkerApp",
    "beat_schedule",
    "celery_config",
    "check_timing",
    "create_app",
    "instruments_chunk",
    "klines_chunk",
    "sync_instruments",
    "sync_klines",
]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'worker_service' has no attribute {name!r}")
    return getattr(import_module(f"worker_service.{_HOMES[name]}"), name)
