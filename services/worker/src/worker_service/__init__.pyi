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
    INSTRUMENTS,
    KLINES,
    Continuation,
    SyncContext,
    SyncKind,
    SyncRequestError,
    instruments_chunk,
    klines_chunk,
    sync_to_end,
)
from .timing import (
    check_timing,
)

__all__ = [
    "INSTRUMENTS",
    "KLINES",
    "Continuation",
    "SyncContext",
    "SyncKind",
    "SyncRequestError",
    "WorkerApp",
    "beat_schedule",
    "celery_config",
    "check_timing",
    "create_app",
    "instruments_chunk",
    "klines_chunk",
    "sync_to_end",
]
