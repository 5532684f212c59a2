"""The worker: a full sync through Celery, and the round trip of a no-op task.

- Full sync: 2,000 instruments and 100,000 one-minute klines from the fake Bybit server into a
  fresh general database, enqueued to a real worker process (solo pool) with chunking on
  (``SYNC_CHUNK_SECONDS`` short enough that the klines take several chunks) and waited for: wall
  time and rows per second. Baseline: the same two syncs run inline, in this process, without
  Celery and without chunks (the same ``syncing`` functions, the same database, the same fake
  server).
- SIGKILL to rerun: a long klines backfill on a worker with the production time settings; the
  worker's whole process group is SIGKILLed mid-chunk and a second worker started at once; the
  time until the task runs again (its next delivery is counted in Redis). Baseline: the goal,
  120 s.
- Round trip: ``worker.ping`` enqueued and its result read, one at a time: p50 and p99. Baseline:
  a raw Redis round trip on the same server, LPUSH a request that another process BRPOPs and
  answers with an LPUSH the sender BRPOPs.
"""

import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from celery import Celery
from harness import Row, stopwatch
from redis import Redis
from sqlalchemy import text
from test_support.scratch import scratch_database
from test_support.worker_process import WorkerProcess, wait_until

from bybit_client import BybitClient
from core_config import Settings, build_settings, with_database
from db_core import Database, upgrade
from db_general import GENERAL_DB
from worker_contract import SyncInstrumentsArgs, SyncKlinesArgs
from worker_service import syncing
from worker_service.celery_app import celery_config
from worker_service.syncing import SyncContext, sync_to_end
from worker_service.tasks import CLIENT_RETRY

INSTRUMENTS = 2_000
KLINES = 100_000
START_MS = 1_672_531_200_000  # 2023-01-01T00:00:00Z
END_MS = START_MS + (KLINES - 1) * 60_000
ROUND_TRIPS = 1_000
REDIS_URL = "redis://127.0.0.1:6379/7"
KLINES_ARGS = SyncKlinesArgs(
    category="linear", symbol="BTCUSDT", interval="1", start_ms=START_MS, end_ms=END_MS
)

CHUNK_SECONDS = 2.0
RERUN_GOAL_SECONDS = 120.0
# The fake server in a process of its own, so it never competes with the inline sync for the GIL.
_FAKE_SERVER = """
import sys
from bybit_client.testing import FakeBybit, default_instruments
template = default_instruments()["linear"][0]
server = FakeBybit()
server.delay_seconds = float(sys.argv[2])
# BTCUSDT, whose klines are synced, among them: the fake refuses klines of unlisted symbols.
server.set_instruments("linear", [template] + [
    {**template, "symbol": f"C{i:05d}USDT", "baseCoin": f"C{i:05d}"} for i in range(int(sys.argv[1]) - 1)
])
with server:
    print(server.base_url, flush=True)
    sys.stdin.read()
"""
_RESPONDER = """
import sys
from redis import Redis
redis, requests, replies = Redis.from_url(sys.argv[1]), sys.argv[2], sys.argv[3]
while True:
    _, message = redis.brpop([requests])
    if message == b"stop":
        break
    redis.lpush(replies, message)
"""


@contextmanager
def fake_server(delay: float = 0.0) -> Iterator[str]:
    """The fake Bybit server serving ``INSTRUMENTS`` linear instruments; yields its base URL."""
    command = [sys.executable, "-c", _FAKE_SERVER, str(INSTRUMENTS), str(delay)]
    server = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        yield server.stdout.readline().strip()
    finally:
        server.terminate()
        server.wait(10)


def _empty(database: Database) -> None:
    with database.sync_session() as session:
        session.execute(text("TRUNCATE instruments, klines, sync_runs"))


def _count(database: Database) -> int:
    with database.sync_session() as session:
        return int(
            session.scalar(text("SELECT (SELECT count(*) FROM instruments) + (SELECT count(*) FROM klines)"))
            or 0
        )


def inline_sync(settings: Settings, database: Database) -> float:
    _empty(database)
    client = BybitClient(settings.bybit_api_url, retry=CLIENT_RETRY)
    with stopwatch() as elapsed, client:
        context = SyncContext(database=database, client=client)
        sync_to_end(context, syncing.INSTRUMENTS, SyncInstrumentsArgs(category="linear"))
        sync_to_end(context, syncing.KLINES, KLINES_ARGS)
    assert _count(database) == INSTRUMENTS + KLINES
    return elapsed()


def celery_sync(celery: Celery, settings: Settings, database: Database) -> tuple[float, int]:
    """Wall time and the number of chunks the klines sync took."""
    _empty(database)
    queue = settings.celery_queue
    with stopwatch() as elapsed:
        instruments = celery.send_task("sync.instruments", kwargs={"category": "linear"}, queue=queue)
        klines = celery.send_task("sync.klines", kwargs=dict(KLINES_ARGS), queue=queue)
        instruments.get(timeout=300)
        summary = klines.get(timeout=300)
    assert _count(database) == INSTRUMENTS + KLINES
    return elapsed(), int(summary["chunks"])


def _percentiles(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[98] * 1000


def celery_round_trips(celery: Celery, queue: str, count: int = ROUND_TRIPS) -> list[float]:
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        assert celery.send_task("worker.ping", queue=queue).get(timeout=30) == "pong"
        samples.append(time.perf_counter() - start)
    return samples


def redis_round_trips(url: str) -> list[float]:
    requests, replies = f"bench:{uuid.uuid4().hex}:requests", f"bench:{uuid.uuid4().hex}:replies"
    responder = subprocess.Popen([sys.executable, "-c", _RESPONDER, url, requests, replies])
    redis = Redis.from_url(url)
    try:
        samples = []
        for index in range(ROUND_TRIPS):
            start = time.perf_counter()
            redis.lpush(requests, str(index))
            assert redis.brpop([replies], timeout=10) is not None
            samples.append(time.perf_counter() - start)
        return samples
    finally:
        redis.lpush(requests, "stop")
        responder.wait(10)
        redis.delete(requests, replies)
        redis.close()


def _bench_settings(url: str, base_url: str, **overrides: Any) -> Settings:
    return build_settings(
        environment="test",
        database_url_general=url,
        database_url_user=with_database(url, "bench_worker_unused_user"),
        redis_url=REDIS_URL,
        celery_queue=f"bench-{uuid.uuid4().hex[:12]}",
        bybit_budget_prefix=f"bench-budget-{uuid.uuid4().hex[:12]}",
        bybit_api_url=base_url,
        **overrides,
    )


def kill_to_rerun() -> float:
    """Seconds from SIGKILL of a worker's process group mid-chunk to its task running again."""
    with fake_server(delay=0.5) as base_url, scratch_database("bench_worker_kill") as url:
        settings = _bench_settings(url, base_url)  # the production time settings
        upgrade(GENERAL_DB, settings, url=url)
        celery = Celery("bench-kill", set_as_current=False)
        celery.conf.update(celery_config(settings))
        redis = Redis.from_url(REDIS_URL)
        try:
            task = celery.send_task("sync.klines", kwargs=dict(KLINES_ARGS), queue=settings.celery_queue)
            deliveries = f"worker:{settings.celery_queue}:deliveries:{task.id}"
            with WorkerProcess(settings, pool="prefork") as doomed:
                wait_until(lambda: redis.get(deliveries) is not None, 60, "the sync to start")
                time.sleep(1.0)  # mid-chunk
                killed_at = time.monotonic()
                doomed.kill()  # SIGKILL to its whole process group
            with WorkerProcess(settings) as successor:
                wait_until(lambda: int(redis.get(deliveries) or 0) >= 2, 300, "the task to run again", 0.1)
                rerun = time.monotonic() - killed_at
                successor.kill()
            return rerun
        finally:
            redis.delete(settings.celery_queue, deliveries)
            redis.close()
            celery.close()


def run() -> list[Row]:
    rerun_seconds = kill_to_rerun()
    with fake_server() as base_url, scratch_database("bench_worker") as url:
        settings = _bench_settings(url, base_url, sync_chunk_seconds=CHUNK_SECONDS)
        upgrade(GENERAL_DB, settings, url=url)
        database = Database(GENERAL_DB, settings, application_name="bench")
        celery = Celery("bench", set_as_current=False)
        celery.conf.update(celery_config(settings))
        try:
            # Best of two each, alternated, so neither side alone pays for cold caches.
            with WorkerProcess(settings):
                inline = inline_sync(settings, database)
                through_celery, chunks = celery_sync(celery, settings, database)
                inline = min(inline, inline_sync(settings, database))
                through_celery = min(through_celery, celery_sync(celery, settings, database)[0])
                celery_round_trips(celery, settings.celery_queue, count=50)  # warm up
                task_p50, task_p99 = _percentiles(celery_round_trips(celery, settings.celery_queue))
            redis_p50, redis_p99 = _percentiles(redis_round_trips(REDIS_URL))
        finally:
            celery.close()
            database.dispose_sync()
    rows = INSTRUMENTS + KLINES
    print(
        f"worker full sync: inline {inline:.2f} s, through Celery {through_celery:.2f} s "
        f"(klines in {chunks} chunks of {CHUNK_SECONDS:g} s); SIGKILL to rerun {rerun_seconds:.1f} s"
    )
    sync_baseline = "the same sync inline, without Celery or chunks"
    trip_baseline = "raw Redis LPUSH/BRPOP round trip to another process"
    return [
        Row("worker full sync", "wall time", through_celery, "s", sync_baseline, inline,
            "within 10% of inline (ratio >= 0.9)", higher_is_better=False),
        Row("worker full sync", "rows/s", rows / through_celery, "rows/s", sync_baseline, rows / inline,
            "within 10% of inline (ratio >= 0.9)"),
        Row("worker SIGKILL to rerun", "seconds until the task runs again", rerun_seconds, "s",
            "the goal", RERUN_GOAL_SECONDS, "<= 120 s (production time settings)", higher_is_better=False),
        Row("worker task round trip", "p50 enqueue->result", task_p50, "ms", trip_baseline, redis_p50,
            "informational: Celery's cost over a bare Redis round trip", higher_is_better=False),
        Row("worker task round trip", "p99 enqueue->result", task_p99, "ms", trip_baseline, redis_p99,
            "informational: Celery's cost over a bare Redis round trip", higher_is_better=False),
    ]  # fmt: skip
