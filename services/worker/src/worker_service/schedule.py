"""Beat's schedule: every instrument hourly, the configured klines every minute.

Each entry expires before its next run, so a worker that was away does not come back to a pile
of stale copies of the same sync.
"""

from typing import Any

from celery.schedules import crontab

from core_config import Settings
from worker_service.task_names import SYNC_INSTRUMENTS, SYNC_KLINES

INSTRUMENTS_EXPIRE_SECONDS = 3000
KLINES_EXPIRE_SECONDS = 55


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """Celery's ``beat_schedule``: instruments of every category at minute 0, klines each minute."""
    schedule: dict[str, dict[str, Any]] = {
        "instruments hourly": {
            "task": SYNC_INSTRUMENTS,
            "schedule": crontab(minute="0"),
            "kwargs": {"category": None},
            "options": {"queue": settings.celery_queue, "expires": INSTRUMENTS_EXPIRE_SECONDS},
        }
    }
    for symbol in settings.sync_kline_symbols:
        for interval in settings.sync_kline_intervals:
            # No range: the task continues from the newest stored candle up to now.
            schedule[f"klines {settings.sync_kline_category} {symbol} {interval}"] = {
                "task": SYNC_KLINES,
                "schedule": crontab(),
                "kwargs": {"category": settings.sync_kline_category, "symbol": symbol, "interval": interval},
                "options": {"queue": settings.celery_queue, "expires": KLINES_EXPIRE_SECONDS},
            }
    return schedule
