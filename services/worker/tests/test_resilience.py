"""A worker stopped by a deploy, a task that kills its worker, two beats at once: real processes on Redis.

Each test runs on a queue of its own, with short time settings so that what takes minutes in
production takes seconds here.
"""

import json
import os
import signal
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
from celery import Celery
from kombu.transport.redis import Channel as RedisChannel
from redbeat.schedulers import RedBeatSchedulerEntry
from redis import Redis
from sqlalchemy import Engine, text
from test_support.worker_process import BeatProcess, WorkerProcess, wait_until

from bybit_client.testing import FakeBybit
from core_config import Settings
from worker_contract import SYNC_KLINES, SyncKlinesArgs
from worker_service import celery_config
from worker_service.beat_scheduler import OneSyncPerPeriod, period_task_id
from worker_service.celery_app import BEAT_LOCK_SECONDS, create_app
from worker_service.deliveries import dead_letter_key

START_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
MINUTE_MS = 60_000
KLINES = "/v5/market/kline"


def _settings(worker_settings: Settings, name: str, **overrides: Any) -> Settings:
    queue = f"{worker_settings.celery_queue}-{name}"
    return worker_settings.model_copy(update={"celery_queue": queue, **overrides})


@pytest.fixture
def redis(worker_settings: Settings) -> Iterator[Redis]:
    client = Redis.from_url(worker_settings.redis_url.get_secret_value())
    yield client
    client.close()


def _client(settings: Settings) -> Celery:
    client = Celery("test-resilience", set_as_current=False)
    client.conf.update(celery_config(settings))
    return client


def _klines(minutes: int) -> SyncKlinesArgs:
    return SyncKlinesArgs(
        category="linear",
        symbol="ETHUSDT",
        interval="1",
        start_ms=START_MS,
        end_ms=START_MS + (minutes - 1) * MINUTE_MS,
    )


def _stored(engine: Engine) -> tuple[int, int]:
    with engine.connect() as connection:
        count, distinct = connection.execute(
            text("SELECT count(*), count(DISTINCT start_time) FROM klines WHERE symbol = 'ETHUSDT'")
        ).one()
    return int(count), int(distinct)


def _runs(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(text("SELECT status, rows, error FROM sync_runs"))]


def test_sigterm_mid_chunk_puts_the_chunk_back_in_the_queue_at_once(
    worker_settings: Settings, fake_bybit: FakeBybit, clean_general_database: Engine, redis: Redis
) -> None:
    # A chunk takes 3 pages of a second each; the soft shutdown gives it 1 s: it cannot finish.
    # The visibility timeout is long: a task back within it was put back, not found abandoned.
    settings = _settings(
        worker_settings,
        "term",
        sync_chunk_seconds=3.0,
        task_soft_time_limit=10,
        task_time_limit=12,
        celery_visibility_timeout=120,
        worker_soft_shutdown_timeout=1.0,
        worker_shutdown_delay=10,
    )
    fake_bybit.delay_seconds = 1.0
    client = _client(settings)
    with WorkerProcess(settings, pool="prefork") as stopping:
        result = client.send_task(SYNC_KLINES, kwargs=dict(_klines(8000)), queue=settings.celery_queue)
        wait_until(lambda: _stored(clean_general_database)[0] >= 1000, 30, "the first page to be stored")
        stopping.terminate_group()  # as a deploy does: SIGTERM to every process
        signalled = time.monotonic()
        assert stopping.process is not None
        stopping.process.wait(settings.worker_shutdown_delay)
        exited_in = time.monotonic() - signalled
        output = stopping.output()
    assert exited_in < settings.worker_shutdown_delay, output
    assert "Soft Shutdown" in output
    # Back in the queue at once, nothing left unacknowledged.
    assert redis.llen(settings.celery_queue) == 1, output
    assert not result.ready()
    assert _stored(clean_general_database)[0] < 8000

    with WorkerProcess(settings) as successor:
        summary = result.get(timeout=60)
        assert isinstance(summary, dict), successor.output()
    assert _runs(clean_general_database) == [("succeeded", 8000, None)]
    assert summary["written"] == 8000
    assert _stored(clean_general_database) == (8000, 8000)  # nothing lost, nothing duplicated
    client.close()


def _copies(redis: Redis, queue: str, task_id: str) -> int:
    """Messages of task ``task_id`` waiting in ``queue`` or delivered and not yet acknowledged (kombu
    keeps those in its unacked hash until the ack, or puts them back once the visibility timeout has
    passed)."""
    waiting = [json.loads(raw) for raw in redis.lrange(queue, 0, -1)]
    delivered = [json.loads(raw)[0] for raw in redis.hvals(RedisChannel.unacked_key)]
    return sum(message["headers"].get("id") == task_id for message in waiting + delivered)


def _drained(redis: Redis, queue: str, task_id: str) -> bool:
    """Whether no copy of the task is left, looked at twice: a worker holds a message it has just
    taken from the queue for an instant before kombu records it as unacknowledged."""
    if _copies(redis, queue, task_id):
        return False
    time.sleep(0.5)
    return not _copies(redis, queue, task_id)


def test_a_task_that_kills_its_worker_every_time_is_set_aside(
    worker_settings: Settings, fake_bybit: FakeBybit, clean_general_database: Engine, redis: Redis
) -> None:
    settings = _settings(
        worker_settings,
        "poison",
        sync_chunk_seconds=1.0,
        task_soft_time_limit=2,
        task_time_limit=3,
        celery_visibility_timeout=4,
        worker_max_deliveries=2,
    )
    queue = settings.celery_queue
    fake_bybit.delay_seconds = 1.0
    client = _client(settings)
    result = client.send_task(SYNC_KLINES, kwargs=dict(_klines(5000)), queue=queue)
    deliveries = f"worker:{queue}:deliveries:{result.id}"
    for death in (1, 2):
        # The message brings its worker down (as an out-of-memory kill would), once per delivery.
        with WorkerProcess(settings) as victim:
            wait_until(lambda: int(redis.get(deliveries) or 0) == death, 60, f"delivery {death}")  # noqa: B023
            victim.kill()
    # Each victim may have left more than one copy of the task behind: the message it died under
    # (put back once the visibility timeout has passed) and, when it finished a chunk before the
    # kill, the next chunk's message, or its own message put back while a slow chunk still ran.
    # Whichever reaches the survivor first is set aside; every later one must be dropped unrun.
    pages = fake_bybit.count(KLINES)
    with WorkerProcess(settings) as survivor:
        with pytest.raises(Exception, match="set aside: its worker died under it 2 times"):
            result.get(timeout=60)
        # One more copy for certain, as a victim's late redelivery would bring it: its start marks
        # the task started again, yet it must not run.
        client.send_task(SYNC_KLINES, kwargs=dict(_klines(5000)), queue=queue, task_id=result.id)
        wait_until(lambda: _drained(redis, queue, result.id), 60, "every copy of the task to be consumed")
        output = survivor.output()
    assert output.count("task set aside") == 1, output
    assert "copy of an ended sync dropped" in output, output
    assert fake_bybit.count(KLINES) == pages  # the survivor never ran the sync
    assert redis.get(deliveries) is None  # no run counted after the set-aside
    assert result.state == "FAILURE"
    letters = [json.loads(item) for item in redis.lrange(dead_letter_key(queue), 0, -1)]
    assert [(letter["task_id"], letter["task"], letter["worker_deaths"]) for letter in letters] == [
        (result.id, SYNC_KLINES, 2)
    ]
    assert letters[0]["kwargs"]["symbol"] == "ETHUSDT"
    [(status, _, error)] = _runs(clean_general_database)
    assert status == "failed"
    assert dead_letter_key(queue) in error
    client.close()


def _sent_klines(redis: Redis, queue: str, expires_after: float) -> list[datetime]:
    """When beat first sent each period's klines sync waiting in ``queue`` (from its expiry): a
    second send of a period (a beat waking from a pause past its lock) carries the same task id, so
    the worker runs it as the same sync (``test_a_beat_that_sends_after_its_lock_expired...``)."""
    sent: dict[str, datetime] = {}
    for raw in redis.lrange(queue, 0, -1):
        headers = json.loads(raw)["headers"]
        if headers["task"] == SYNC_KLINES:
            at = datetime.fromisoformat(headers["expires"]) - timedelta(seconds=expires_after)
            sent[headers["id"]] = min(at, sent.get(headers["id"], at))
    return sorted(sent.values())


def test_two_overlapping_beats_run_each_scheduled_sync_once_per_period(
    worker_settings: Settings, redis: Redis
) -> None:
    period = 2
    settings = _settings(
        worker_settings,
        "beat",
        sync_kline_symbols=["BTCUSDT"],
        sync_kline_intervals=["1"],
        sync_kline_every=period,
    )
    queue = settings.celery_queue
    with BeatProcess(settings) as old:
        wait_until(lambda: redis.llen(queue) >= 1, 60, "the first beat to send")
        with BeatProcess(settings) as new:
            time.sleep(8)  # both run: a deploy starts the new beat before the old one stops
            assert old.process is not None
            assert old.process.poll() is None
            # The old beat stalls holding the lock (a frozen instance, a long pause): once the lock
            # expires the new beat takes it over while the old one is still alive.
            os.killpg(old.process.pid, signal.SIGSTOP)
            wait_until(
                lambda: "Acquired lock" in new.output(),
                BEAT_LOCK_SECONDS + 30,
                "the new beat to take over the expired lock",
            )
            took_over = time.monotonic()
            before = len(_sent_klines(redis, queue, period * 0.9))
            time.sleep(4)
            # Thawed, the old beat finds its lock taken: it stops instead of sending beside the new one.
            os.killpg(old.process.pid, signal.SIGCONT)
            old.process.wait(timeout=30)
            old_output = old.output()
            time.sleep(6)
            assert new.process is not None
            assert new.process.poll() is None, new.output()
            ran = time.monotonic() - took_over
    sent = _sent_klines(redis, queue, period * 0.9)
    gaps = [(later - earlier).total_seconds() for earlier, later in pairwise(sent)]
    assert min(gaps) >= period * 0.5, gaps  # never two syncs in one period
    assert len(sent) - before >= ran / period * 0.6, (len(sent) - before, ran)  # and not skipped either
    assert "LockNotOwnedError" in old_output
    redis.delete(queue)


def _queued_ids(redis: Redis, queue: str) -> list[str]:
    return [json.loads(raw)["headers"]["id"] for raw in redis.lrange(queue, 0, -1)]


def test_a_beat_that_sends_after_its_lock_expired_sends_a_copy_of_the_same_sync(
    worker_settings: Settings, fake_bybit: FakeBybit, clean_general_database: Engine, redis: Redis
) -> None:
    """Beat A reads a due entry and is paused past its lock; beat B takes over and sends the
    period; A wakes and sends what it read. Both messages carry the period's task id: the worker
    runs one sync, and the late copy does nothing."""
    settings = _settings(worker_settings, "pause", sync_kline_symbols=["BTCUSDT"], sync_kline_every=60)
    queue = settings.celery_queue
    app = create_app(settings)
    scheduler = OneSyncPerPeriod(app=app, lock_key=None)  # no lock: this test plays both beats
    name = f"klines {settings.sync_kline_category} BTCUSDT 1"
    key = RedBeatSchedulerEntry.generate_key(app, name)
    paused_view = RedBeatSchedulerEntry.from_key(key, app=app)  # what beat A read before its pause
    scheduler.apply_async(RedBeatSchedulerEntry.from_key(key, app=app))  # beat B sends and moves on
    scheduler.apply_async(paused_view, advance=False)  # beat A wakes and sends what it had read
    ids = _queued_ids(redis, queue)
    assert len(ids) == 2
    assert ids[0] == ids[1] == period_task_id(paused_view)
    # The next period is another sync.
    assert period_task_id(RedBeatSchedulerEntry.from_key(key, app=app)) != ids[0]
    with WorkerProcess(settings) as worker:
        wait_until(lambda: redis.llen(queue) == 0, 30, "both messages taken")
        wait_until(lambda: "copy of an ended sync dropped" in worker.output(), 30, "the copy dropped")
    with clean_general_database.connect() as connection:
        runs = connection.execute(text("SELECT task_id, status FROM sync_runs")).all()
    assert [tuple(run) for run in runs] == [(ids[0], "succeeded")]
    redis.delete(queue)
