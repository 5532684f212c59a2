"""Syncs enqueued through the API's ``POST /v1/market/sync``, run by a real worker process.

Real Redis, the session's general database, the fake Bybit server; the API app runs in-process
(lifespan included) and the worker as a subprocess, as in production.
"""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from celery import Celery
from local_stack.private import PrivateServer
from pydantic import SecretStr
from sqlalchemy import Engine, text
from test_support.tokens import issue_tokens
from test_support.worker_process import WorkerProcess, wait_until

from api_service import create_app, serve_app
from bybit_client.testing import FakeBybit, Fault
from core_config import Settings
from db_general import SYNC_RUN_STATE_COLUMNS
from db_user import generate_key_file
from worker_contract import SYNC_KLINES, SyncKlinesArgs
from worker_service import celery_config
from worker_service.tasks import CLIENT_RETRY

pytestmark = pytest.mark.asyncio(loop_scope="session")
MINUTE_MS = 60_000


@asynccontextmanager
async def open_api(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The API app with ``settings``, its lifespan running, and a client with an operator token."""
    app = create_app(settings)
    auth = (await issue_tokens(settings)).operator_auth
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=serve_app(app))
        async with httpx.AsyncClient(transport=transport, base_url="http://api", headers=auth) as client:
            yield client


@pytest.fixture(scope="module")
def api_settings(worker_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The worker's settings plus the master key file the API requires."""
    key_file = tmp_path_factory.mktemp("master-key") / "master.key"
    generate_key_file(key_file)
    # Tasks are polled often: limits no test here reaches, on counters of this module's own.
    limits = {
        "rate_limit_per_address": "100000/minute",
        "rate_limit_operator": "100000/minute",
        "sync_max_pending": 64,
        "sync_max_candles": 100_000,  # the backfill tests ask for 30,000 at once
    }
    prefix = f"test-ratelimit-{uuid.uuid4().hex[:8]}"
    return worker_settings.model_copy(
        update={"render_master_key_path": key_file, "rate_limit_key_prefix": prefix, **limits}
    )


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def api(api_settings: Settings, worker: WorkerProcess) -> AsyncIterator[httpx.AsyncClient]:
    """The API in front of the module's worker."""
    async with open_api(api_settings) as client:
        yield client


async def run_sync(api: httpx.AsyncClient, body: dict[str, Any], within: float = 60) -> dict[str, Any]:
    """Enqueue through the API and poll the task until it ends; return its final status."""
    accepted = await api.post("/v1/market/sync", json=body)
    assert accepted.status_code == 202, accepted.text
    return await wait_for_task(api, accepted.json()["task_id"], within)


async def wait_for_task(api: httpx.AsyncClient, task_id: str, within: float = 60) -> dict[str, Any]:
    async with asyncio.timeout(within):
        while True:
            answer = await api.get(f"/v1/tasks/{task_id}")
            assert answer.status_code == 200, answer.text
            status: dict[str, Any] = answer.json()
            if status["state"] in ("succeeded", "failed"):
                return status
            await asyncio.sleep(0.05)


def _snapshot(engine: Engine, category: str) -> dict[str, tuple[Any, ...]]:
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT symbol, tick_size, first_seen_at, updated_at, delisted_at FROM instruments"
                " WHERE category = :category"
            ),
            {"category": category},
        ).all()
    return {row.symbol: tuple(row[1:]) for row in rows}


async def test_instruments_sync_then_a_rerun_touches_only_what_changed(
    api: httpx.AsyncClient, fake_bybit: FakeBybit, clean_general_database: Engine
) -> None:
    first = await run_sync(api, {"kind": "instruments", "category": "linear"})
    assert first["state"] == "succeeded", first
    served = fake_bybit.instruments["linear"]
    assert first["result"]["inserted"] == len(served) > 500
    before = _snapshot(clean_general_database, "linear")
    assert set(before) == {row["symbol"] for row in served}

    # Bybit changes one instrument's tick size and drops another.
    changed, dropped = dict(served[0]), served[1]["symbol"]
    changed["priceFilter"] = {**changed["priceFilter"], "tickSize": "0.5"}
    fake_bybit.set_instruments("linear", [changed, *served[2:]])
    second = await run_sync(api, {"kind": "instruments", "category": "linear"})
    assert second["state"] == "succeeded", second
    result = second["result"]
    assert (result["inserted"], result["updated"], result["delisted"]) == (0, 1, 1)
    assert result["unchanged"] == len(served) - 2

    after = _snapshot(clean_general_database, "linear")
    assert set(after) == set(before)  # nothing deleted, nothing duplicated
    moved = {symbol for symbol in after if after[symbol][2] != before[symbol][2]}
    assert moved == {changed["symbol"], dropped}
    assert str(after[changed["symbol"]][0]) == "0.5"
    assert after[dropped][3] is not None  # delisted_at
    assert all(after[symbol][1] == before[symbol][1] for symbol in after)  # first_seen_at kept

    with clean_general_database.connect() as connection:
        runs = connection.execute(
            text("SELECT kind, category, status, rows FROM sync_runs ORDER BY id")
        ).all()
    assert [tuple(run) for run in runs] == [
        ("instruments", "linear", "succeeded", len(served)),
        ("instruments", "linear", "succeeded", 2),
    ]


async def test_instruments_of_every_category(
    api: httpx.AsyncClient, fake_bybit: FakeBybit, clean_general_database: Engine
) -> None:
    status = await run_sync(api, {"kind": "instruments"})
    assert status["state"] == "succeeded", status
    with clean_general_database.connect() as connection:
        rows = connection.execute(text("SELECT category, count(*) FROM instruments GROUP BY 1")).all()
    counts = {str(category): int(count) for category, count in rows}
    assert counts == {category: len(rows) for category, rows in fake_bybit.instruments.items()}
    assert status["result"]["inserted"] == sum(counts.values())


async def test_klines_sync_is_idempotent_and_readable_through_the_api(
    api: httpx.AsyncClient, fake_bybit: FakeBybit, clean_general_database: Engine
) -> None:
    body = {
        "kind": "klines",
        "category": "linear",
        "symbol": "ETHUSDT",
        "interval": "60",
        "start": "2025-01-01T00:00:00Z",
        "end": "2025-03-01T00:00:00Z",
    }
    hours = (31 + 28) * 24 + 1
    first = await run_sync(api, body)
    assert first["state"] == "succeeded", first
    assert first["result"]["written"] == hours
    again = await run_sync(api, body)
    assert again["state"] == "succeeded", again
    assert again["result"]["written"] == 0  # a rerun changes nothing

    with clean_general_database.connect() as connection:
        stored, distinct = connection.execute(
            text("SELECT count(*), count(DISTINCT start_time) FROM klines WHERE symbol = 'ETHUSDT'")
        ).one()
    assert stored == distinct == hours
    page = await api.get(
        "/v1/market/klines",
        params={
            "category": "linear",
            "symbol": "ETHUSDT",
            "interval": "60",
            "start": body["start"],
            "limit": 3,
        },
    )
    assert page.status_code == 200, page.text
    assert [item["start_time"] for item in page.json()["items"]] == [
        "2025-01-01T00:00:00Z",
        "2025-01-01T01:00:00Z",
        "2025-01-01T02:00:00Z",
    ]


async def test_a_sync_that_fails_once_then_succeeds_shows_its_failed_attempt(
    api: httpx.AsyncClient, fake_bybit: FakeBybit, clean_general_database: Engine
) -> None:
    # Bybit answers 502 to every try the client makes of the first page: the task's first attempt
    # fails and is retried, and the retry succeeds.
    fake_bybit.fail_next(CLIENT_RETRY.max_attempts, Fault.HTTP_5XX)
    body = {
        "kind": "klines",
        "category": "linear",
        "symbol": "XRPUSDT",
        "interval": "60",
        "start": "2025-02-01T00:00:00Z",
        "end": "2025-02-02T00:00:00Z",
    }
    status = await run_sync(api, body)
    assert status["state"] == "succeeded", status
    sync = status["sync"]
    assert list(sync) == [column.name for column in SYNC_RUN_STATE_COLUMNS]
    assert (sync["status"], sync["rows"], sync["failed_attempts"], sync["waiting"]) == (
        "succeeded",
        25,
        1,
        None,
    )
    (attempt,) = sync["attempt_errors"]
    # In words: what Bybit answered, and that the attempt was retried; no traceback, no address.
    assert attempt["error"].startswith("BybitTransientError: /v5/market/kline"), attempt
    assert "HTTP 502" in attempt["error"]
    assert attempt["error"].endswith("(retried)")
    assert "Traceback" not in attempt["error"]
    assert "127.0.0.1" not in attempt["error"]
    started, at, finished = (
        datetime.fromisoformat(sync["started_at"]),
        datetime.fromisoformat(attempt["at"]),
        datetime.fromisoformat(sync["finished_at"]),
    )
    assert started <= at <= finished
    assert at.utcoffset() == timedelta(0)


async def test_a_task_reports_running_while_the_worker_is_at_it(
    api: httpx.AsyncClient, worker: WorkerProcess, fake_bybit: FakeBybit, clean_general_database: Engine
) -> None:
    fake_bybit.delay_seconds = 0.3
    accepted = await api.post("/v1/market/sync", json={"kind": "instruments", "category": "linear"})
    task_id = accepted.json()["task_id"]
    seen: set[str] = set()
    for _ in range(400):
        state = (await api.get(f"/v1/tasks/{task_id}")).json()["state"]
        seen.add(state)
        if state in ("succeeded", "failed"):
            break
        await asyncio.sleep(0.02)
    assert "running" in seen
    assert state == "succeeded"


def _klines_stored(engine: Engine, symbol: str) -> tuple[int, int, Any, Any]:
    with engine.connect() as connection:
        count, distinct, first, last = connection.execute(
            text(
                "SELECT count(*), count(DISTINCT start_time), min(start_time), max(start_time) FROM klines"
                " WHERE symbol = :symbol"
            ),
            {"symbol": symbol},
        ).one()
    return int(count), int(distinct), first, last


# Short bounds, so a lost task is handed on within seconds: chunks of 1 s, killed after 4 s,
# handed to another worker 6 s after it was taken.
SHORT_TASKS = {
    "sync_chunk_seconds": 1.0,
    "task_soft_time_limit": 3,
    "task_time_limit": 4,
    "celery_visibility_timeout": 6,
}


async def test_a_worker_group_killed_mid_backfill_is_replaced_and_the_sync_completes(
    api_settings: Settings,
    fake_bybit: FakeBybit,
    clean_general_database: Engine,
    private_redis: PrivateServer,
) -> None:
    settings = api_settings.model_copy(update={"redis_url": SecretStr(private_redis.url), **SHORT_TASKS})
    fake_bybit.delay_seconds = 1.0  # a page of 1000 candles a second: the backfill takes >= 30 s
    candles = 30_000
    body = {
        "kind": "klines",
        "category": "linear",
        "symbol": "SOLUSDT",
        "interval": "1",
        "start": "2024-01-01T00:00:00Z",
        "end": "2024-01-21T19:59:00Z",
    }
    async with open_api(settings) as api:
        with WorkerProcess(settings, pool="prefork") as doomed:
            accepted = await api.post("/v1/market/sync", json=body)
            assert accepted.status_code == 202, accepted.text
            task_id = accepted.json()["task_id"]
            await asyncio.to_thread(
                wait_until,
                lambda: _klines_stored(clean_general_database, "SOLUSDT")[0] >= 20_000,
                60,
                "two thirds of the backfill to be stored",
            )
            doomed.kill()  # SIGKILL to its whole process group
            killed_at = time.monotonic()
        stored_at_kill = _klines_stored(clean_general_database, "SOLUSDT")[0]
        assert stored_at_kill < candles
        bound = SHORT_TASKS["sync_chunk_seconds"] + SHORT_TASKS["celery_visibility_timeout"] + 30
        with WorkerProcess(settings) as successor:
            status = await wait_for_task(api, task_id, within=bound + 30)
            finished_in = time.monotonic() - killed_at

    assert status["state"] == "succeeded", successor.output()
    assert finished_in <= bound, f"the sync finished {finished_in:.1f}s after the kill (bound {bound}s)"
    result = status["result"]
    assert result["written"] == candles
    assert result["chunks"] > 10  # a chain of short tasks, not one long one
    count, distinct, first, last = _klines_stored(clean_general_database, "SOLUSDT")
    assert count == distinct == candles  # exactly what the exchange has: nothing duplicated or lost
    assert (first.isoformat(), last.isoformat()) == ("2024-01-01T00:00:00+00:00", "2024-01-21T19:59:00+00:00")
    with clean_general_database.connect() as connection:
        runs = [
            tuple(row)
            for row in connection.execute(
                text("SELECT status, rows, error, task_id FROM sync_runs ORDER BY id")
            )
        ]
    # One row for the whole sync, continued by the chunk that ran again after the kill.
    assert runs == [("succeeded", candles, None, task_id)]


async def test_the_worker_reconnects_after_redis_restarts(
    api_settings: Settings,
    fake_bybit: FakeBybit,
    clean_general_database: Engine,
    private_redis: PrivateServer,
) -> None:
    settings = api_settings.model_copy(update={"redis_url": SecretStr(private_redis.url)})
    body = {"kind": "instruments", "category": "inverse"}
    with WorkerProcess(settings) as worker:
        async with open_api(settings) as api:
            assert (await run_sync(api, body))["state"] == "succeeded"
        private_redis.restart()
        async with open_api(settings) as api:
            # Tasks sent after the restart succeed within 30 s.
            status = await run_sync(api, body, within=30)
        assert status["state"] == "succeeded", worker.output()
    assert status["result"]["unchanged"] == len(fake_bybit.instruments["inverse"])


async def test_a_bad_symbol_fails_the_task_with_bybits_reason_recorded(
    api: httpx.AsyncClient, fake_bybit: FakeBybit, clean_general_database: Engine
) -> None:
    body = {
        "kind": "klines",
        "category": "linear",
        "symbol": "NOSUCHUSDT",
        "interval": "60",
        "start": "2025-01-01T00:00:00Z",
        "end": "2025-01-02T00:00:00Z",
    }
    status = await run_sync(api, body)
    assert status["state"] == "failed"
    assert "klines linear NOSUCHUSDT 60: Bybit refused the request" in status["error"]
    assert "Not supported symbols" in status["error"]
    assert fake_bybit.count("/v5/market/kline") == 1  # refused requests are not retried
    with clean_general_database.connect() as connection:
        run = connection.execute(text("SELECT symbol, status, error FROM sync_runs")).one()
    assert (run.symbol, run.status) == ("NOSUCHUSDT", "failed")
    assert "Not supported symbols" in run.error


async def test_a_hole_made_in_the_table_is_shown_then_filled_by_the_safety_net_sync(
    api: httpx.AsyncClient, api_settings: Settings, clean_general_database: Engine
) -> None:
    """Rows deleted in the middle of a stored series: an operator sees the hole, and beat's next
    klines sync (no range: the last 1,000 closed candles) fetches exactly it."""
    client = Celery("test-safety-net", set_as_current=False)
    client.conf.update(celery_config(api_settings))
    beats = SyncKlinesArgs(category="linear", symbol="DOTUSDT", interval="1")

    def beat_sync() -> dict[str, Any]:
        result = client.send_task(SYNC_KLINES, kwargs=dict(beats), queue=api_settings.celery_queue)
        summary: dict[str, Any] = result.get(timeout=60)
        return summary

    first = await asyncio.to_thread(beat_sync)
    assert first["fetched"] == 1000
    newest = datetime.fromtimestamp(first["last_ms"] / 1000, UTC)
    cut = (newest - timedelta(minutes=500), newest - timedelta(minutes=480))
    with clean_general_database.begin() as connection:
        connection.execute(
            text("DELETE FROM klines WHERE symbol = 'DOTUSDT' AND start_time BETWEEN :a AND :b"),
            {"a": cut[0], "b": cut[1]},
        )
    query = {
        "category": "linear",
        "symbol": "DOTUSDT",
        "interval": "1",
        "start": (newest - timedelta(minutes=999)).isoformat(),
        "end": newest.isoformat(),
    }
    seen = (await api.get("/v1/market/klines/holes", params=query)).json()
    assert seen["missing"] == 21
    assert [(hole["first_start"], hole["candles"]) for hole in seen["holes"]] == [
        (cut[0].isoformat().replace("+00:00", "Z"), 21)
    ]
    again = await asyncio.to_thread(beat_sync)
    assert again["holes"] >= 1
    assert again["fetched"] <= 21 + 2  # the hole, and what closed meanwhile
    assert (await api.get("/v1/market/klines/holes", params=query)).json()["missing"] == 0
    client.close()
