"""Beat's schedule: every instrument hourly, the configured klines every ``SYNC_KLINE_EVERY`` seconds,
the sweep of abandoned syncs every minute.

Each entry expires before its next run, so a worker that was away does not come back to a pile
of stale copies of the same sync.
"""

from datetime import timedelta
from typing import Any

from celery.schedules import crontab

from core_config import Settings
from worker_contract import (
    SWEEP_SYNC_RUNS,
    SYNC_INSTRUMENTS,
    SYNC_KLINES,
    SyncInstrumentsArgs,
    SyncKlinesArgs,
)

INSTRUMENTS_EXPIRE_SECONDS = 3000
SWEEP_EVERY_SECONDS = 60
# A copy left unconsumed this far into its period has been overtaken by the next one.
EXPIRE_FRACTION = 0.9


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """Celery's ``beat_schedule``: instruments of every category at minute 0, klines periodically."""
    schedule: dict[str, dict[str, Any]] = {
        "instruments hourly": {
            "task": SYNC_INSTRUMENTS,
            "schedule": crontab(minute="0"),
            "kwargs": SyncInstrumentsArgs(category=None),
            "options": {"queue": settings.celery_queue, "expires": INSTRUMENTS_EXPIRE_SECONDS},
        },
        "sweep abandoned syncs": {
            "task": SWEEP_SYNC_RUNS,
            "schedule": timedelta(seconds=SWEEP_EVERY_SECONDS),
            "options": {"queue": settings.celery_queue, "expires": SWEEP_EVERY_SECONDS * EXPIRE_FRACTION},
        },
    }
    for symbol in settings.sync_kline_symbols:
        for interval in settings.sync_kline_intervals:
            # No range: the task fills the holes of the last closed candles (syncing.KLINE_WINDOW).
            schedule[f"klines {settings.sync_kline_category} {symbol} {interval}"] = {
                "task": SYNC_KLINES,
                "schedule": timedelta(seconds=settings.sync_kline_every),
                "kwargs": SyncKlinesArgs(
                    category=settings.sync_kline_category,
                    symbol=symbol,
                    interval=interval,
                    start_ms=None,
                    end_ms=None,
                ),
                "options": {
                    "queue": settings.celery_queue,
                    "expires": settings.sync_kline_every * EXPIRE_FRACTION,
                },
            }
    return schedule
