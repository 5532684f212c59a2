"""The public names of this package, read by type checkers and by lazy_loader (loaded on first use)."""

from .holes import (
    Hole,
    Repair,
    Series,
    SeriesHoles,
    missing_candles,
    record_exchange_gaps,
    series_holes,
)
from .instruments import (
    LISTED_INSTRUMENT_COLUMNS,
    InstrumentPage,
    get_instrument,
    list_instruments,
    listed_instrument_raw,
    mark_delisted,
    upsert_instruments,
)
from .klines import (
    LISTED_KLINE_COLUMNS,
    list_klines,
    newest_kline_start,
    upsert_klines,
)
from .models import (
    SYNC_STATUSES,
    GeneralBase,
    Instrument,
    Kline,
    KlineGap,
    SyncRun,
)
from .pagination import (
    InvalidCursorError,
)
from .rows import (
    InstrumentRow,
    KlineRow,
    UpsertCounts,
)
from .spec import (
    GENERAL_DB,
)
from .sync_runs import (
    MAX_ATTEMPT_ERRORS,
    SYNC_RUN_STATE_COLUMNS,
    SyncRunScope,
    add_sync_run_rows,
    close_abandoned_sync_runs,
    finish_sync_run,
    get_sync_run_state,
    last_success,
    list_sync_runs,
    note_sync_run_waiting,
    record_attempt_error,
    start_sync_run,
    sync_run_status,
)

__all__ = [
    "GENERAL_DB",
    "LISTED_INSTRUMENT_COLUMNS",
    "LISTED_KLINE_COLUMNS",
    "MAX_ATTEMPT_ERRORS",
    "SYNC_RUN_STATE_COLUMNS",
    "SYNC_STATUSES",
    "GeneralBase",
    "Hole",
    "Instrument",
    "InstrumentPage",
    "InstrumentRow",
    "InvalidCursorError",
    "Kline",
    "KlineGap",
    "KlineRow",
    "Repair",
    "Series",
    "SeriesHoles",
    "SyncRun",
    "SyncRunScope",
    "UpsertCounts",
    "add_sync_run_rows",
    "close_abandoned_sync_runs",
    "finish_sync_run",
    "get_instrument",
    "get_sync_run_state",
    "last_success",
    "list_instruments",
    "list_klines",
    "list_sync_runs",
    "listed_instrument_raw",
    "mark_delisted",
    "missing_candles",
    "newest_kline_start",
    "note_sync_run_waiting",
    "record_attempt_error",
    "record_exchange_gaps",
    "series_holes",
    "start_sync_run",
    "sync_run_status",
    "upsert_instruments",
    "upsert_klines",
]
