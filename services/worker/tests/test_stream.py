"""The live kline stream against the fake exchange's WebSocket and the session's general database."""

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime

import pytest
from local_stack.private import private_postgres
from pydantic import SecretStr
from redis import Redis
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool
from test_support.environment import WORKER_SETTINGS, settings_environment
from test_support.scratch import scratch_database
from test_support.worker_process import wait_until

from bybit_client import AsyncBybitClient
from bybit_client.streams import Backoff, StreamSettings
from bybit_client.testing import FakeBybit, Fault, StreamFault, candle, fast_retry_policy
from core_config import Settings, build_settings
from db_core import Database, upgrade
from db_general import GENERAL_DB
from worker_contract import StreamStatus, stream_status_key
from worker_service.streaming import KlineStreamer

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
MINUTE = 60_000
# How long a state may take to arrive: alone these tests settle in a second or two; beside three
# other test workers on two loaded cores a backfill retried every second took over 20 s.
WAIT = 60.0
FAST = StreamSettings(
    ping_interval=0.2,
    silence_timeout=0.8,
    reply_timeout=3.0,
    backoff=Backoff(base=0.05, cap=0.2, reset_after=10.0),
)


async def eventually(check: Callable[[], bool], what: str) -> None:
    try:
        async with asyncio.timeout(WAIT):
            while not check():  # noqa: ASYNC110 - the state lives in the database and another thread
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


def stored(engine: Engine, symbol: str) -> dict[int, tuple[str, ...]]:
    """start ms -> (open, high, low, close, volume, turnover) of the stored 1-minute candles."""
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT start_time, open, high, low, close, volume, turnover FROM klines"
                " WHERE category = 'linear' AND symbol = :symbol AND interval = '1' ORDER BY start_time"
            ),
            {"symbol": symbol},
        ).all()
    return {int(row[0].timestamp() * 1000): tuple(format(value, "f") for value in row[1:]) for row in rows}


@pytest.fixture
def general_db(worker_settings: Settings) -> Iterator[Database]:
    database = Database(GENERAL_DB, worker_settings, application_name="stream-test")
    yield database
    database.dispose_sync()


@pytest.fixture
async def streamer(
    fake_bybit: FakeBybit, clean_general_database: Engine, general_db: Database
) -> AsyncIterator[KlineStreamer]:
    fake_bybit.streams.kline_tick_seconds = 0.02
    async with AsyncBybitClient(fake_bybit.base_url, retry=fast_retry_policy(), timeout=5.0) as rest:
        streamer = KlineStreamer(
            stream_base_url=fake_bybit.ws_url,
            category="linear",
            symbols=SYMBOLS,
            intervals=["1"],
            database=general_db,
            rest=rest,
            stream_settings=FAST,
        )
        task = asyncio.create_task(streamer.run())
        try:
            yield streamer
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def _pushed_to_every_topic(streamer: KlineStreamer) -> bool:
    """Every series has had a push: the fake's candle clock runs for it (closes will be pushed)."""
    return all(health.messages > 0 for health in streamer.stream.status().topics.values())


def _closed_before(fake: FakeBybit) -> int:
    """The start of the last candle closed on the fake's clock."""
    return fake.now_ms() // MINUTE * MINUTE - MINUTE


async def test_no_candle_missing_after_a_drop_in_the_middle_of_a_minute(
    fake_bybit: FakeBybit, streamer: KlineStreamer, clean_general_database: Engine
) -> None:
    engine = clean_general_database
    # Start half-way through a minute: the first connect backfills the look-back up to the last close.
    fake_bybit.clock_offset_ms += MINUTE // 2 - fake_bybit.now_ms() % MINUTE
    await eventually(lambda: streamer.counters.backfills >= 1, "the first backfill")
    await eventually(lambda: _closed_before(fake_bybit) in stored(engine, "BTCUSDT"), "the backfill's rows")
    await eventually(lambda: _pushed_to_every_topic(streamer), "a push on every topic")
    # A minute closes while connected: it comes from the push.
    fake_bybit.clock_offset_ms += MINUTE
    live_close = _closed_before(fake_bybit)
    await eventually(lambda: all(live_close in stored(engine, s) for s in SYMBOLS), "the pushed close")
    await eventually(lambda: streamer.counters.lag_ms is not None, "a pushed candle committed")

    # Mid-minute, the connection drops, and the first two attempts to restore are refused:
    # three minutes close meanwhile, pushed to nobody.
    fake_bybit.clock_offset_ms += MINUTE // 4
    fake_bybit.streams.refuse_subscribes["/v5/public/linear"] = 2
    await asyncio.wrap_future(fake_bybit.streams.inject(StreamFault.DROP))
    fake_bybit.clock_offset_ms += 3 * MINUTE
    await eventually(lambda: streamer.stream.reconnects >= 1, "the reconnect")
    last_close = _closed_before(fake_bybit)
    await eventually(lambda: all(last_close in stored(engine, s) for s in SYMBOLS), "the gap backfilled")
    assert streamer.counters.backfills >= 2

    for symbol in SYMBOLS:
        rows = stored(engine, symbol)
        starts = sorted(rows)
        # Contiguous: every minute between the first and the last stored candle is there...
        assert starts == list(range(starts[0], starts[-1] + MINUTE, MINUTE))
        assert starts[-1] == last_close  # ...and nothing open was stored
        # ...with the exchange's values.
        for start in (starts[0], live_close, last_close - MINUTE, last_close):
            assert rows[start] == tuple(candle(symbol, "1", start)[1:]), (symbol, start)


async def test_a_push_lost_without_a_disconnect_is_backfilled(
    fake_bybit: FakeBybit, streamer: KlineStreamer, clean_general_database: Engine
) -> None:
    engine = clean_general_database
    await eventually(lambda: streamer.counters.backfills >= 1, "the first backfill")
    await eventually(lambda: _pushed_to_every_topic(streamer), "a push on every topic")
    # Silence mutes the pushes of the next minutes; the watchdog then reconnects.
    await asyncio.wrap_future(fake_bybit.streams.inject(StreamFault.SILENCE))
    fake_bybit.clock_offset_ms += 2 * MINUTE
    await eventually(lambda: streamer.stream.reconnects >= 1, "the watchdog's reconnect")
    last_close = _closed_before(fake_bybit)
    await eventually(lambda: all(last_close in stored(engine, s) for s in SYMBOLS), "the gap backfilled")
    starts = sorted(stored(engine, "ETHUSDT"))
    assert starts == list(range(starts[0], starts[-1] + MINUTE, MINUTE))


def _whole(engine: Engine, symbol: str, last: int) -> bool:
    """The stored 1-minute series of ``symbol`` is contiguous up to ``last`` and holds the exchange's
    values (one row per start: the primary key)."""
    rows = stored(engine, symbol)
    starts = sorted(rows)
    if not starts or starts[-1] != last or starts != list(range(starts[0], last + MINUTE, MINUTE)):
        return False
    return all(rows[start] == tuple(candle(symbol, "1", start)[1:]) for start in starts)


async def test_holes_left_while_rest_failed_are_filled_after_a_live_candle_was_committed(
    fake_bybit: FakeBybit, streamer: KlineStreamer, clean_general_database: Engine
) -> None:
    engine = clean_general_database
    await eventually(lambda: streamer.counters.backfills >= 1, "the first backfill")
    await eventually(lambda: _pushed_to_every_topic(streamer), "a push on every topic")
    # The stream is cut and refused for a while; three minutes close, pushed to nobody. REST
    # answers 5xx to every kline request until told otherwise.
    fake_bybit.fail_next(1_000_000, Fault.HTTP_5XX, path="/v5/market/kline")
    fake_bybit.streams.refuse_subscribes["/v5/public/linear"] = 3
    await asyncio.wrap_future(fake_bybit.streams.inject(StreamFault.DROP))
    fake_bybit.clock_offset_ms += 3 * MINUTE
    await eventually(lambda: streamer.stream.reconnects >= 1, "the reconnect")
    missed = _closed_before(fake_bybit)
    # Back on the stream (every topic pushed again: a close pushed before the subscription is back
    # would go to nobody), REST still failing: the next minute's close is pushed and committed.
    seen = {topic: health.messages for topic, health in streamer.stream.status().topics.items()}
    await eventually(
        lambda: all(h.messages > seen[t] for t, h in streamer.stream.status().topics.items()),
        "a push on every topic after the reconnect",
    )
    fake_bybit.clock_offset_ms += MINUTE
    live = _closed_before(fake_bybit)
    await eventually(lambda: all(live in stored(engine, s) for s in SYMBOLS), "the live close committed")
    assert all(missed not in stored(engine, s) for s in SYMBOLS)  # the hole is still there
    # REST comes back: the backfill, tried again, finds the hole behind the live candle.
    fake_bybit.faults.clear()
    await eventually(lambda: all(_whole(engine, s, live) for s in SYMBOLS), "every series whole")


async def test_holes_left_while_the_database_was_away_are_filled(
    fake_bybit: FakeBybit, worker_settings: Settings
) -> None:
    fake_bybit.streams.kline_tick_seconds = 0.02
    with private_postgres() as server, scratch_database("stream-outage", server.url) as url:
        settings = worker_settings.model_copy(
            update={"database_url_general": SecretStr(url), "db_connect_timeout": 1, "db_pool_timeout": 2.0}
        )
        upgrade(GENERAL_DB, settings, url=url)
        engine = create_engine(url, poolclass=NullPool)
        database = Database(GENERAL_DB, settings, application_name="stream-outage")
        async with AsyncBybitClient(fake_bybit.base_url, retry=fast_retry_policy(), timeout=5.0) as rest:
            streamer = KlineStreamer(
                stream_base_url=fake_bybit.ws_url,
                category="linear",
                symbols=SYMBOLS,
                intervals=["1"],
                database=database,
                rest=rest,
                stream_settings=FAST,
            )
            task = asyncio.create_task(streamer.run())
            try:
                await eventually(lambda: streamer.counters.backfills >= 1, "the first backfill")
                await eventually(lambda: _pushed_to_every_topic(streamer), "a push on every topic")
                # The database goes away; the stream drops; minutes close on both sides of the gap.
                await asyncio.to_thread(server.stop)
                await asyncio.wrap_future(fake_bybit.streams.inject(StreamFault.DROP))
                fake_bybit.clock_offset_ms += 3 * MINUTE
                await eventually(lambda: streamer.stream.reconnects >= 1, "the reconnect")
                fake_bybit.clock_offset_ms += MINUTE  # a live close while the database is away
                await asyncio.sleep(1.0)  # the backfill and the writes fail meanwhile
                await asyncio.to_thread(server.start)
                last = _closed_before(fake_bybit)
                await eventually(lambda: all(_whole(engine, s, last) for s in SYMBOLS), "every series whole")
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                database.dispose_sync()
                engine.dispose()


# -- the process --------------------------------------------------------------------------------


@pytest.fixture
def stream_settings(worker_settings: Settings, fake_bybit: FakeBybit) -> Settings:
    return build_settings(
        **{name: getattr(worker_settings, name) for name in ("database_url_user", "database_url_general")},
        environment="test",
        redis_url=worker_settings.redis_url.get_secret_value(),
        celery_queue=worker_settings.celery_queue + "-stream",
        bybit_api_url=fake_bybit.base_url,
        bybit_stream_url=fake_bybit.ws_url,
        sync_kline_category="linear",
        sync_kline_symbols=list(SYMBOLS),
        sync_kline_intervals=["1", "5"],
        stream_ping_interval=0.5,
        stream_silence_timeout=2.0,
        stream_status_interval=0.2,
    )


def _status(settings: Settings) -> StreamStatus | None:
    with Redis.from_url(settings.redis_url.get_secret_value()) as redis:
        raw = redis.get(stream_status_key(settings.celery_queue))
    return None if raw is None else StreamStatus.model_validate_json(raw)


def test_the_stream_process_reports_its_health_and_stops_on_sigterm(
    stream_settings: Settings, fake_bybit: FakeBybit, clean_general_database: Engine
) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "worker_service", "stream"],
        env=settings_environment(stream_settings, WORKER_SETTINGS),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + WAIT
        status = None
        while time.monotonic() < deadline:
            assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
            status = _status(stream_settings)
            if status is not None and status.connected and status.backfills >= 1:
                break
            time.sleep(0.05)
        assert status is not None
        assert status.connected, status
        assert set(status.topics) == {f"kline.{i}.{s}" for s in SYMBOLS for i in ("1", "5")}
        assert not status.stale(datetime.now(UTC))
        assert fake_bybit.streams.subscriptions() == [set(status.topics)]

        began = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=10)
        stopped_in = time.monotonic() - began
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    output = process.stdout.read().decode() if process.stdout else ""
    assert code == 0, output
    assert stopped_in < 5, output
    assert "stream stopped" in output
    wait_until(lambda: fake_bybit.streams.subscriptions() == [], 5.0, "the socket closed")
    assert _status(stream_settings) is None  # and its status withdrawn


def _start_stream(settings: Settings) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "worker_service", "stream"],
        env=settings_environment(settings, WORKER_SETTINGS),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_a_stream_process_killed_and_started_again_leaves_no_hole(
    stream_settings: Settings, fake_bybit: FakeBybit, clean_general_database: Engine
) -> None:
    engine = clean_general_database
    settings = stream_settings.model_copy(update={"sync_kline_intervals": ["1"]})
    process = _start_stream(settings)
    try:
        first_close = _closed_before(fake_bybit)
        wait_until(lambda: all(first_close in stored(engine, s) for s in SYMBOLS), WAIT, "the first backfill")
        process.kill()  # SIGKILL: nothing flushed, nothing said
        process.wait()
        fake_bybit.clock_offset_ms += 3 * MINUTE  # closes nobody listens to
        process = _start_stream(settings)
        last = _closed_before(fake_bybit)
        wait_until(lambda: all(_whole(engine, s, last) for s in SYMBOLS), WAIT, "every series whole")
    finally:
        process.kill()
        process.wait()
