"""The syncs as plain functions, in this process: the session's general database and the fake Bybit server."""

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
from sqlalchemy import Engine, text

from bybit_client import BybitClient, BybitRateLimitError, BybitTransientError
from bybit_client.testing import FakeBybit, Fault
from core_config import Settings, build_settings
from db_core import Database
from db_general import GENERAL_DB, SyncInstrumentsArgs, SyncKlinesArgs
from worker_service import (
    Continuation,
    SyncContext,
    SyncRequestError,
    instruments_chunk,
    klines_chunk,
    sync_instruments,
    sync_klines,
)
from worker_service.syncing import WORKER_LOST
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


def test_an_interrupted_klines_sync_continues_from_the_newest_stored_candle(
    context: SyncContext, clean_general_database: Engine
) -> None:
    # An earlier run stored the first half of the range before it was cut off.
    sync_klines(
        context, klines("linear", "BTCUSDT", "1", start_ms=START_MS, end_ms=START_MS + 1499 * MINUTE_MS)
    )
    whole = klines("linear", "BTCUSDT", "1", start_ms=START_MS, end_ms=START_MS + 2999 * MINUTE_MS)
    resumed = sync_klines(_next_sync(context), whole)
    assert resumed["resumed_from_ms"] == START_MS + 1499 * MINUTE_MS
    assert (resumed["fetched"], resumed["written"]) == (1501, 1500)
    again = sync_klines(_next_sync(context), whole)
    assert (again["fetched"], again["written"]) == (1, 0)  # a rerun changes nothing
    assert _scalar(clean_general_database, "SELECT count(DISTINCT start_time) FROM klines") == 3000
    assert _scalar(clean_general_database, "SELECT count(*) FROM klines") == 3000


def _runs(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(text("SELECT kind, status, rows FROM sync_runs"))]


def test_a_bounded_klines_sync_is_a_chain_of_chunks_resuming_from_what_is_stored(
    context: SyncContext, clean_general_database: Engine
) -> None:
    bounded = replace(context, chunk_seconds=0.0)  # every chunk stops after its first page
    outcome = klines_chunk(
        bounded, klines("linear", "BTCUSDT", "1", start_ms=START_MS, end_ms=START_MS + 2999 * MINUTE_MS)
    )
    chunks = 1
    while isinstance(outcome, Continuation):
        stored = _scalar(clean_general_database, "SELECT count(*) FROM klines")
        assert stored == 1000 + 999 * (chunks - 1)  # each chunk committed its page
        assert _runs(clean_general_database) == [("klines", "running", stored)]  # one row, still open
        outcome = klines_chunk(bounded, outcome.request, outcome.progress)
        chunks += 1
    assert chunks == 4  # the next chunk starts at the newest stored candle: one candle overlaps
    assert (outcome["chunks"], outcome["written"], outcome["fetched"]) == (4, 3000, 3003)
    assert _runs(clean_general_database) == [("klines", "succeeded", 3000)]
    assert _scalar(clean_general_database, "SELECT count(DISTINCT start_time) FROM klines") == 3000


def test_the_same_chunk_delivered_twice_at_once_keeps_one_row(
    context: SyncContext, clean_general_database: Engine
) -> None:
    request = klines("linear", "SOLUSDT", "1", start_ms=START_MS, end_ms=START_MS + 1999 * MINUTE_MS)
    chunk = partial(klines_chunk, context, request)
    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(lambda _: chunk(), range(2))
    assert isinstance(first, dict)
    assert isinstance(second, dict)
    assert first["sync_run_id"] == second["sync_run_id"]
    # Each candle written once whichever copy wrote it, all counted on the sync's one row.
    assert _runs(clean_general_database) == [("klines", "succeeded", 2000)]
    assert _scalar(clean_general_database, "SELECT count(*) FROM klines") == 2000


def test_a_bounded_instruments_sync_takes_a_category_per_chunk(
    context: SyncContext, fake_bybit: FakeBybit, clean_general_database: Engine
) -> None:
    bounded = replace(context, chunk_seconds=0.0)
    outcome = instruments_chunk(bounded, instruments(None))
    chunks = 1
    while isinstance(outcome, Continuation):
        outcome = instruments_chunk(bounded, outcome.request, outcome.progress)
        chunks += 1
    total = sum(len(rows) for rows in fake_bybit.instruments.values())
    assert chunks == len(fake_bybit.instruments)
    assert outcome["inserted"] == total
    assert _runs(clean_general_database) == [("instruments", "succeeded", total)]


def test_a_range_before_what_is_stored_is_fetched_whole(
    context: SyncContext, clean_general_database: Engine
) -> None:
    end_ms = START_MS + 999 * 5 * MINUTE_MS
    sync_klines(
        context, klines("linear", "ETHUSDT", "5", start_ms=START_MS + 500 * 5 * MINUTE_MS, end_ms=end_ms)
    )
    earlier = sync_klines(
        _next_sync(context), klines("linear", "ETHUSDT", "5", start_ms=START_MS, end_ms=end_ms)
    )
    assert earlier["resumed_from_ms"] == START_MS  # a gap before the stored candles: no shortcut
    assert (earlier["fetched"], earlier["written"]) == (1000, 500)
    assert _scalar(clean_general_database, "SELECT count(*) FROM klines") == 1000


def test_without_a_range_klines_continue_from_the_newest_stored_up_to_now(
    context: SyncContext, clean_general_database: Engine
) -> None:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    # The range's keys may be left out of a request altogether.
    recent = sync_klines(context, SyncKlinesArgs(category="spot", symbol="BTCUSDT", interval="60"))
    assert recent["fetched"] == 1000  # nothing stored yet: the default look-back
    later = sync_klines(_next_sync(context), klines("spot", "BTCUSDT", "60"))
    assert later["resumed_from_ms"] >= int((now - timedelta(hours=1)).timestamp() * 1000)
    assert later["fetched"] <= 2


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


def test_each_failed_attempt_is_recorded_on_the_sync_row(
    context: SyncContext, fake_bybit: FakeBybit, clean_general_database: Engine
) -> None:
    # Bybit answers 502 to every try of the client's own: the task will retry later.
    fake_bybit.fail_next(CLIENT_RETRY.max_attempts, Fault.HTTP_5XX)
    one_candle = klines("linear", "BTCUSDT", "1", start_ms=START_MS, end_ms=START_MS)
    with pytest.raises(BybitTransientError):
        klines_chunk(replace(context, will_retry=lambda _: True), one_candle)
    # The retry runs on a worker that took the task over from one lost under it, and succeeds.
    outcome = klines_chunk(replace(context, worker_deaths=1), one_candle)
    assert isinstance(outcome, dict)
    with clean_general_database.connect() as connection:
        run = connection.execute(text("SELECT status, failed_attempts, attempt_errors FROM sync_runs")).one()
    assert (run.status, run.failed_attempts) == ("succeeded", 2)
    retried, lost = (entry["error"] for entry in run.attempt_errors)
    assert "BybitTransientError" in retried
    assert "HTTP 502" in retried
    assert retried.endswith("(retried)")
    assert lost == WORKER_LOST
