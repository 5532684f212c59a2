"""The public names of this package, read by type checkers and by lazy_loader (loaded on first use)."""

from .celery_app import (
    WorkerApp,
    celery_config,
    create_app,
)
from .schedule import (
    beat_schedule,
)
from .syncing import (
    Continuation,
    SyncContext,
    SyncRequestError,
    instruments_chunk,
    klines_chunk,
    sync_instruments,
    sync_klines,
)
from .timing import (
    check_timing,
)

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
