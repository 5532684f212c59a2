"""The general database: instruments, klines, sync runs.

Reads are async (the API) and take a connection of the API's read pool (``db_core.ReadPool``):
fixed SQL whose column lists come from the table metadata, rows as plain dicts keyed by column
name. Writes are sync (the Celery worker) and take a session; they never commit: the caller's
session scope does.
"""

from db_general.holes import Hole, Series, missing_candles, record_exchange_gaps, recorded_gaps
from db_general.instruments import (
    LISTED_INSTRUMENT_COLUMNS,
    InstrumentPage,
    get_instrument,
    list_instruments,
    mark_delisted,
    upsert_instruments,
)
from db_general.klines import LISTED_KLINE_COLUMNS, list_klines, newest_kline_start, upsert_klines
from db_general.models import SYNC_STATUSES, GeneralBase, Instrument, Kline, KlineGap, SyncRun
from db_general.pagination import InvalidCursorError
from db_general.rows import InstrumentRow, KlineRow, UpsertCounts
from db_general.session import general_database
from db_general.spec import GENERAL_DB
from db_general.stream_status import MISSED_STATUS_WRITES, StreamStatus, StreamTopicStatus, stream_status_key
from db_general.sync_runs import (
    MAX_ATTEMPT_ERRORS,
    SYNC_RUN_STATE_COLUMNS,
    add_sync_run_rows,
    finish_sync_run,
    get_sync_run_state,
    last_success,
    list_sync_runs,
    note_sync_run_waiting,
    record_attempt_error,
    start_sync_run,
)
from db_general.task_contract import (
    PING,
    SYNC_INSTRUMENTS,
    SYNC_KLINES,
    TASK_ARGUMENTS,
    SyncInstrumentsArgs,
    SyncKlinesArgs,
)

__all__ = [
    "GENERAL_DB",
    "LISTED_INSTRUMENT_COLUMNS",
    "LISTED_KLINE_COLUMNS",
    "MAX_ATTEMPT_ERRORS",
    "MISSED_STATUS_WRITES",
    "PING",
    "SYNC_INSTRUMENTS",
    "SYNC_KLINES",
    "SYNC_RUN_STATE_COLUMNS",
    "SYNC_STATUSES",
    "TASK_ARGUMENTS",
    "GeneralBase",
    "Hole",
    "Instrument",
    "InstrumentPage",
    "InstrumentRow",
    "InvalidCursorError",
    "Kline",
    "KlineGap",
    "KlineRow",
    "Series",
    "StreamStatus",
    "StreamTopicStatus",
    "SyncInstrumentsArgs",
    "SyncKlinesArgs",
    "SyncRun",
    "UpsertCounts",
    "add_sync_run_rows",
    "finish_sync_run",
    "general_database",
    "get_instrument",
    "get_sync_run_state",
    "last_success",
    "list_instruments",
    "list_klines",
    "list_sync_runs",
    "mark_delisted",
    "missing_candles",
    "newest_kline_start",
    "note_sync_run_waiting",
    "record_attempt_error",
    "record_exchange_gaps",
    "recorded_gaps",
    "start_sync_run",
    "stream_status_key",
    "upsert_instruments",
    "upsert_klines",
]
