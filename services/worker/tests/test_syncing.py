"""The syncs as plain functions, in this process: the session's general database and the fake Bybit server.

Klines are fetched by holes: what a sync fetches is what its range misses, found from what is
stored; chunks, reruns and copies running side by side write each candle once."""

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text

from bybit_client import BybitClient, BybitRateLimitError, BybitTransientError
from bybit_client.testing import FakeBybit
from core_config import Settings, build_settings
from db_core import Database
from db_general import GENERAL_DB
from worker_contract import SyncInstrumentsArgs, SyncKlinesArgs
from worker_service import (
    INSTRUMENTS,
    KLINES,
    Continuation,
    SyncContext,
    SyncRequestError,
    instruments_chunk,
    klines_chunk,
    sync_to_end,
)
from worker_service.syncing import open_run
from worker_service.tasks import CLIENT_RETRY, retry_countdown

START_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
MINUTE_MS = 60_000


@pytest.fixture
def context(
    worker_settings: Settings, fake_bybit: FakeBybit, clean_general_database: Engine
) -> Iterator[SyncContext]:
    database = Database(GENERAL_DB, worker_settings, application_name="test")
    with BybitClient(fake_bybit.base_url, retry=CLIENT_RETRY) as client:
        yield SyncContext(database=database, client=client, task_id="task-1")
    database.dispose_sync()


def klines(*series: str, start_ms: int | None = None, end_ms: int | None = None) -> SyncKlinesArgs:
    """A ``sync.klines`` request for (category, symbol, interval)."""
    category, symbol, interval = series
    return SyncKlinesArgs(
        category=category, symbol=symbol, interval=interval, start_ms=start_ms, end_ms=end_ms
    )


def instruments(category: str | None) -> SyncInstrumentsArgs:
    return SyncInstrumentsArgs(category=category)


def sync_instruments(context: SyncContext, request: SyncInstrumentsArgs) -> dict[str, object]:
    return sync_to_end(context, INSTRUMENTS, request)


def sync_klines(context: SyncContext, request: SyncKlinesArgs) -> dict[str, object]:
    return sync_to_end(context, KLINES, request)


def _next_sync(context: SyncContext) -> SyncContext:
    """The context of another sync: each sync is a task of its own, with a ``sync_runs`` row of its own."""
    return replace(context, task_id=f"task-{uuid.uuid4().hex[:8]}")


def _scalar(engine: Engine, sql: str) -> object:
    with engine.connect() as connection:
        return connection.scalar(text(sql))


def test_instruments_are_never_deleted_and_an_empty_answer_delists_nothing(
    context: SyncContext, fake_bybit: FakeBybit, clean_general_database: Engine
) -> None:
    inverse = fake_bybit.instruments["inverse"]
    first = sync_instruments(context, instruments("inverse"))
    assert (first["inserted"], first["updated"], first["delisted"]) == (len(inverse), 0, 0)

    fake_bybit.set_instruments("inverse", [])
    empty = sync_instruments(_next_sync(context), instruments("inverse"))
    assert (empty["fetched"], empty["delisted"]) == (0, 0)

    fake_bybit.set_instruments("inverse", inverse[5:])
    shrunk = sync_instruments(_next_sync(context), instruments("inverse"))
    assert (shrunk["inserted"], shrunk["updated"], shrunk["delisted"]) == (0, 0, 5)
    assert _scalar(clean_general_database, "SELECT count(*) FROM instruments") == len(inverse)
    assert (
        _scalar(clean_general_database, "SELECT count(*) FROM instruments WHERE delisted_at IS NOT NULL") == 5
    )

    fake_bybit.set_instruments("inverse", inverse)  # listed again
    back = sync_instruments(_next_sync(context), instruments("inverse"))
    assert back["updated"] == 5
    assert (
        _scalar(clean_general_database, "SELECT count(*) FROM instruments WHERE delisted_at IS NOT NULL") == 0
    )


def test_an_interrupted_klines_sync_fetches_only_what_is_missing(
    context: SyncContext, clean_general_database: Engine
) -> None:
    # An earlier run stored the first half of the range before it was cut off.
    sync_klines(
        context, klines("linear", "BTCUSDT", "1", start_ms=START_MS, end_ms=START_MS + 1499 * MINUTE_MS)
    )
    whole = klines("linear", "BTCUSDT", "1", start_ms=START_MS, end_ms=START_MS + 2999 * MINUTE_MS)
    resumed = sync_klines(_next_sync(context), whole)
    assert (resumed["holes"], resumed["fetched"], resumed["written"]) == (1, 1500, 1500)
    again = sync_klines(_next_sync(context), whole)
    assert (again["holes"], again["fetched"], again["written"]) == (0, 0, 0)  # a rerun changes nothing
    assert _scalar(clean_general_database, "SELECT count(DISTINCT start_time) FROM klines") == 3000
    assert _scalar(clean_general_database, "SELECT count(*) FROM klines") == 3000


def test_holes_anywhere_in_the_range_are_filled_and_only_they(
    context: SyncContext, fake_bybit: FakeBybit, clean_general_database: Engine
) -> None:
    whole = klines("linear", "ADAUSDT", "1", start_ms=START_MS, end_ms=START_MS + 2999 * MINUTE_MS)
    sync_klines(context, whole)
    with clean_general_database.begin() as connection:
        connection.execute(
            text(
                "DELETE FROM klines WHERE symbol = 'ADAUSDT'"
                " AND (start_time BETWEEN :a AND :b OR start_time = :c)"
            ),
            {
                "a": datetime.fromtimestamp((START_MS + 100 * MINUTE_MS) / 1000, UTC),
                "b": datetime.fromtimestamp((START_MS + 149 * MINUTE_MS) / 1000, UTC),
                "c": datetime.fromtimestamp((START_MS + 2500 * MINUTE_MS) / 1000, UTC),
            },
        )
    pages = fake_bybit.count("/v5/market/kline")
    filled = sync_klines(_next_sync(context), whole)
    assert (filled["holes"], filled["fetched"], filled["written"]) == (2, 51, 51)
    assert fake_bybit.count("/v5/market/kline") - pages == 2  # one page per hole
    assert _scalar(clean_general_database, "SELECT count(*) FROM klines WHERE symbol = 'ADAUSDT'") == 3000


def _runs(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(text("SELECT kind, status, rows FROM sync_runs"))]


def _chunks_to_end(context: SyncContext, request: SyncKlinesArgs, engine: Engine) -> tuple[int, object]:
    run_id = open_run(context, KLINES, request)
    assert run_id is not None
    outcome = klines_chunk(context, run_id, request)
    chunks = 1
    while isinstance(outcome, Continuation):
        stored = _scalar(engine, "SELECT count(*) FROM klines")
        assert stored == 1000 * chunks  # each chunk committed its page
        assert _runs(engine) == [("klines", "running", stored)]  # one row, still open
        outcome = klines_chunk(context, run_id, outcome.request, outcome.progress)
        chunks += 1
    return chunks, outcome


def test_a_bounded_klines_sync_is_a_chain_of_chunks_each_fetching_what_is_still_missing(
    context: SyncContext, clean_general_database: Engine
) -> None:
    bounded = replace(context, chunk_seconds=0.0)  # every chunk stops after its first page
    request = klines("linear", "BTCUSDT", "1", start_ms=START_MS, end_ms=START_MS + 2999 * MINUTE_MS)
    chunks, outcome = _chunks_to_end(bounded, request, clean_general_database)
    # A page per chunk, and a last chunk that finds nothing missing: no candle fetched twice.
    assert chunks == 4
    assert isinstance(outcome, dict)
    assert (outcome["chunks"], outcome["fetched"], outcome["holes"]) == (4, 3000, 0)
    assert _scalar(clean_general_database, "SELECT count(DISTINCT start_time) FROM klines") == 3000


def test_the_same_chunk_delivered_twice_at_once_keeps_one_row(
    context: SyncContext, clean_general_database: Engine
) -> None:
    request = klines("linear", "SOLUSDT", "1", start_ms=START_MS, end_ms=START_MS + 1999 * MINUTE_MS)
    # Both copies open the row before either works: they share it and run side by side.
    run_ids = {open_run(context, KLINES, request) for _ in range(2)}
    assert len(run_ids) == 1
    (run_id,) = run_ids
    assert run_id is not None
    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(lambda _: klines_chunk(context, run_id, request), range(2)))
    assert all(isinstance(outcome, dict) for outcome in outcomes)
    # Each candle written once whichever copy wrote it, all counted on the sync's one row.
    assert _runs(clean_general_database) == [("klines", "running", 2000)]
    assert _scalar(clean_general_database, "SELECT count(*) FROM klines") == 2000


def test_a_copy_of_an_ended_sync_opens_no_row_and_fetches_nothing(
    context: SyncContext, fake_bybit: FakeBybit, clean_general_database: Engine
) -> None:
    request = klines("linear", "XRPUSDT", "1", start_ms=START_MS, end_ms=START_MS + 99 * MINUTE_MS)
    sync_klines(context, request)
    pages = fake_bybit.count("/v5/market/kline")
    assert open_run(context, KLINES, request) is None
    with pytest.raises(SyncRequestError, match="has ended"):
        sync_klines(context, request)
    assert fake_bybit.count("/v5/market/kline") == pages
    assert _runs(clean_general_database) == [("klines", "succeeded", 100)]


def test_a_bounded_instruments_sync_takes_a_category_per_chunk(
    context: SyncContext, fake_bybit: FakeBybit, clean_general_database: Engine
) -> None:
    bounded = replace(context, chunk_seconds=0.0)
    run_id = open_run(bounded, INSTRUMENTS, instruments(None))
    assert run_id is not None
    outcome = instruments_chunk(bounded, run_id, instruments(None))
    chunks = 1
    while isinstance(outcome, Continuation):
        outcome = instruments_chunk(bounded, run_id, outcome.request, outcome.progress)
        chunks += 1
    total = sum(len(rows) for rows in fake_bybit.instruments.values())
    assert chunks == len(fake_bybit.instruments)
    assert outcome["inserted"] == total


def test_without_a_range_klines_fill_the_last_closed_candles(
    context: SyncContext, clean_general_database: Engine
) -> None:
    # The range's keys may be left out of a request altogether.
    recent = sync_klines(context, SyncKlinesArgs(category="spot", symbol="BTCUSDT", interval="60"))
    assert recent["fetched"] == 1000  # nothing stored yet: the whole window
    newest = _scalar(clean_general_database, "SELECT max(start_time) FROM klines")
    assert isinstance(newest, datetime)
    # Only closed candles: the newest stored one ended before now.
    assert newest + timedelta(hours=1) <= datetime.now(UTC)
    later = sync_klines(_next_sync(context), klines("spot", "BTCUSDT", "60"))
    assert later["fetched"] in (0, 1)  # at most the candle that closed meanwhile


@pytest.mark.parametrize(
    ("category", "interval", "message"),
    [("option", "1", "no klines for category 'option'"), ("linear", "2", "unknown interval '2'")],
)
def test_a_request_that_cannot_be_done_fails_and_is_recorded(
    context: SyncContext, clean_general_database: Engine, category: str, interval: str, message: str
) -> None:
    with pytest.raises(SyncRequestError, match=message):
        sync_klines(context, klines(category, "BTCUSDT", interval, start_ms=START_MS, end_ms=START_MS))
    with clean_general_database.connect() as connection:
        run = connection.execute(text("SELECT kind, status, error, task_id FROM sync_runs")).one()
    assert (run.kind, run.status, run.task_id) == ("klines", "failed", "task-1")
    assert message in run.error


def test_retries_wait_longer_each_time_and_at_least_until_a_rate_limit_resets() -> None:
    settings = build_settings(environment="test", sync_retry_backoff=1.0)
    outage = BybitTransientError("bad gateway", http_status=502)
    waits = [retry_countdown(settings, retries, outage) for retries in range(4)]
    assert all(0.8 * 2**n <= wait <= 1.2 * 2**n for n, wait in enumerate(waits))
    reset_at = datetime.now(UTC) + timedelta(seconds=30)
    limited = BybitRateLimitError("too many", ret_code=10006, reset_at=reset_at)
    assert 25 < retry_countdown(settings, 0, limited) <= 30
