"""The WebSocket streams: parsing speed against pybit, candle-to-row latency, reconnect time.

- Parse: the fake exchange (a process of its own) pushes the same burst of kline, ticker and trade
  messages after each subscribe; messages per second and client CPU per message (this process's
  CPU time, every thread included) until all have arrived. Ours: ``BybitStream`` yielding typed
  messages. Baseline: pybit's ``WebSocket`` (websocket-client in a thread, raw dicts to a
  callback), pointed at the same fake.
- Candle to row: 200 symbols; every second the fake's clock moves a minute, so 200 confirmed
  candles are pushed at once; from the fake's push to the row committed by ``KlineStreamer``
  (the stream process's code), p50 and p99 over the bursts. Baseline: the plain way, one
  transaction per confirmed candle, on the same stream, fake and database.
- Reconnect: the fake cuts the TCP connection (close 1006) of a client holding 200 kline
  subscriptions; from the cut until the fake sees every subscription again. Baseline: pybit
  (which reconnects on a socket error; on a clean close it does not reconnect at all).
"""

import asyncio
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from harness import Row
from pybit.unified_trading import WebSocket as PybitWebSocket
from sqlalchemy import text
from test_support.scratch import scratch_database

from bybit_client import AsyncBybitClient, datetime_to_ms
from bybit_client.streams import (
    Backoff,
    BybitStream,
    KlineMessage,
    TickerMessage,
    TradeMessage,
    kline_topic,
    public_url,
)
from bybit_client.testing import fast_retry_policy
from core_config import build_settings, with_database
from db_core import Database, upgrade
from db_general import GENERAL_DB, KlineRow, upsert_klines
from worker_service.streaming import Commit, KlineStreamer

BURST = 30_000  # messages per topic in the parse benchmark
PARSE_TOPICS = ("kline.1.BTCUSDT", "tickers.BTCUSDT", "publicTrade.BTCUSDT")
SYMBOLS = 200
BURSTS = 15
BASELINE_BURSTS = 3
MINUTE = 60_000
RESTORE_TIMEOUT = 30.0
RESTORES = 4
HEALTHY_SECONDS = Backoff().reset_after + 1

# The fake exchange in a process of its own (its CPU is not the client's), steered through stdin:
# "advance MS" moves its clock; "inject FAULT" plays a stream fault; "subs" prints the topics of
# each open connection.
_FAKE = """
import sys, json
from bybit_client.testing import FakeBybit, default_instruments
burst, symbols = int(sys.argv[1]), int(sys.argv[2])
template = default_instruments()["linear"][0]
server = FakeBybit()
server.set_instruments("linear", [template] + [
    {**template, "symbol": f"C{i:05d}USDT", "baseCoin": f"C{i:05d}"} for i in range(symbols)
])
with server:
    server.streams.burst_on_subscribe = burst
    server.streams.kline_tick_seconds = 0.005
    server.streams.kline_update_seconds = 3600
    print(server.base_url, server.ws_url, flush=True)
    for line in sys.stdin:
        command, _, argument = line.strip().partition(" ")
        if command == "advance":
            server.clock_offset_ms += int(argument)
            print(server.clock_offset_ms, flush=True)
        elif command == "inject":
            server.streams.inject(argument).result(5)
            print("ok", flush=True)
        elif command == "subs":
            print(json.dumps([sorted(s) for s in server.streams.subscriptions()]), flush=True)
        elif command == "burst":
            server.streams.burst_on_subscribe = int(argument)
            print("ok", flush=True)
"""


class Fake:
    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        assert process.stdout is not None
        assert process.stdin is not None
        self.base_url, self.ws_url = process.stdout.readline().split()

    def ask(self, line: str) -> str:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        return self.process.stdout.readline().strip()

    def subscriptions(self) -> list[list[str]]:
        import json  # noqa: PLC0415 - only here

        result: list[list[str]] = json.loads(self.ask("subs"))
        return result


@contextmanager
def fake_exchange(burst: int, symbols: int) -> Iterator[Fake]:
    command = [sys.executable, "-c", _FAKE, str(burst), str(symbols)]
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        yield Fake(process)
    finally:
        process.terminate()
        process.wait(10)


class PybitOnFake(PybitWebSocket):  # type: ignore[misc] # pybit ships no type information
    """pybit's public WebSocket pointed at the fake (pybit builds Bybit's host names itself)."""

    def __init__(self, url: str, **kwargs: Any) -> None:
        self._fake_url = url
        super().__init__(**kwargs)

    def _connect(self, url: str) -> None:
        super()._connect(self._fake_url)


# -- parse ----------------------------------------------------------------------------------------


async def ours_parse(fake: Fake) -> tuple[float, float, int]:
    total = BURST * len(PARSE_TOPICS)
    seen = 0
    wall, cpu = time.perf_counter(), time.process_time()
    async with BybitStream(public_url(fake.ws_url, "linear"), PARSE_TOPICS) as stream:
        async for item in stream:
            if isinstance(item, KlineMessage | TickerMessage | TradeMessage):
                seen += 1
                if seen == total:
                    break
    return time.perf_counter() - wall, time.process_time() - cpu, seen


def pybit_parse(fake: Fake) -> tuple[float, float, int]:
    total = BURST * len(PARSE_TOPICS)
    done = threading.Event()
    seen = [0]

    def callback(message: dict[str, Any]) -> None:
        if "topic" in message:
            seen[0] += 1
            if seen[0] >= total:
                done.set()

    wall, cpu = time.perf_counter(), time.process_time()
    ws = PybitOnFake(public_url(fake.ws_url, "linear"), channel_type="linear", testnet=False)
    try:
        ws.kline_stream(1, "BTCUSDT", callback)
        ws.ticker_stream("BTCUSDT", callback)
        ws.trade_stream("BTCUSDT", callback)
        if not done.wait(300):
            raise RuntimeError(f"pybit received {seen[0]} of {total}")
        return time.perf_counter() - wall, time.process_time() - cpu, seen[0]
    finally:
        ws.exit()


def parse_rows() -> list[Row]:
    with fake_exchange(BURST, 1) as fake:
        # Alternated, best of two each, so that neither pays alone for a cold start.
        ours = [asyncio.run(ours_parse(fake)), None]
        theirs = [pybit_parse(fake), None]
        ours[1] = asyncio.run(ours_parse(fake))
        theirs[1] = pybit_parse(fake)
    ours_wall, ours_cpu, count = min((r for r in ours if r), key=lambda r: r[0])
    pybit_wall, pybit_cpu, pybit_count = min((r for r in theirs if r), key=lambda r: r[0])
    count = BURST * len(PARSE_TOPICS)  # both received at least this many (pybit may count one more)
    assert pybit_count >= count
    return [
        Row(
            "streams: parse",
            "messages per second",
            count / ours_wall,
            "msg/s",
            "pybit WebSocket (raw dicts, thread)",
            count / pybit_wall,
            ">= 3x",
        ),
        Row(
            "streams: parse",
            "client CPU per message",
            ours_cpu / count * 1e6,
            "us/msg",
            "pybit WebSocket (raw dicts, thread)",
            pybit_cpu / count * 1e6,
            "<= 0.5x (ratio >= 2)",
            higher_is_better=False,
        ),
    ]


# -- candle to row ----------------------------------------------------------------------------------


def _symbols() -> list[str]:
    return ["BTCUSDT"] + [f"C{i:05d}USDT" for i in range(SYMBOLS - 1)]


def _seed(database: Database, fake_now_ms: int) -> None:
    """One stored candle per series just before now: the first backfill is then a few candles."""
    start = fake_now_ms // MINUTE * MINUTE - 2 * MINUTE
    rows = [
        KlineRow(
            category="linear",
            symbol=symbol,
            interval="1",
            start_time=datetime.fromtimestamp(start / 1000, UTC),
            open=Decimal(1),
            high=Decimal(1),
            low=Decimal(1),
            close=Decimal(1),
            volume=Decimal(1),
            turnover=Decimal(1),
        )
        for symbol in _symbols()
    ]
    with database.sync_session() as session:
        session.execute(text("TRUNCATE klines"))
        upsert_klines(session, rows)


def _lags(commits: list[Commit], offset_ms: int) -> list[float]:
    return [
        commit.committed_at * 1000 - (pushed - offset_ms)
        for commit in commits
        for pushed in commit.pushed_at_ms
    ]


async def _bursts(
    fake: Fake, commits: list[Commit], expected_per_burst: int, bursts: int = BURSTS
) -> list[float]:
    """One burst a second (a writer slower than that delays the next burst until it is done)."""
    lags: list[float] = []
    for _ in range(bursts):
        commits.clear()
        began = time.monotonic()
        offset = int(fake.ask(f"advance {MINUTE}"))
        while sum(len(commit.pushed_at_ms) for commit in commits) < expected_per_burst:
            if time.monotonic() - began > 120:
                raise RuntimeError("a burst was not committed within 120 s")
            await asyncio.sleep(0.01)
        lags += _lags(commits, offset)
        await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - began)))
    return lags


async def ours_latency(fake: Fake, database: Database) -> list[float]:
    commits: list[Commit] = []
    async with AsyncBybitClient(fake.base_url, retry=fast_retry_policy(), timeout=10) as rest:
        streamer = KlineStreamer(
            stream_base_url=fake.ws_url,
            category="linear",
            symbols=_symbols(),
            intervals=["1"],
            database=database,
            rest=rest,
            on_commit=commits.append,
        )
        task = asyncio.create_task(streamer.run())
        try:
            while streamer.counters.backfills < 1:  # noqa: ASYNC110 - a counter, no event to wait on
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)
            return await _bursts(fake, commits, SYMBOLS)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def per_candle_latency(fake: Fake, database: Database) -> list[float]:
    """The plain way: each confirmed candle upserted in a transaction of its own as it arrives."""
    commits: list[Commit] = []
    topics = [kline_topic("1", symbol) for symbol in _symbols()]
    async with BybitStream(public_url(fake.ws_url, "linear"), topics) as stream:

        def write(row: KlineRow) -> None:
            with database.sync_session() as session:
                upsert_klines(session, [row])

        async def consume() -> None:
            async for item in stream:
                if isinstance(item, KlineMessage):
                    for candle in item.candles:
                        if candle.confirm:
                            kline = candle.kline()
                            row = KlineRow(
                                "linear",
                                item.symbol,
                                "1",
                                kline.start,
                                kline.open,
                                kline.high,
                                kline.low,
                                kline.close,
                                kline.volume,
                                kline.turnover,
                            )
                            await asyncio.to_thread(write, row)
                            commits.append(Commit(1, time.time(), (datetime_to_ms(item.ts),)))

        task = asyncio.create_task(consume())
        try:
            await asyncio.wait_for(stream.wait_ready(), 30)
            await asyncio.sleep(0.5)
            # Fewer bursts: each takes this way several seconds to commit.
            return await _bursts(fake, commits, SYMBOLS, BASELINE_BURSTS)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def _percentile(samples: list[float], percent: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[percent - 1]


def latency_rows(database: Database, fake: Fake) -> list[Row]:
    fake_now = int(time.time() * 1000) + int(fake.ask("advance 0"))
    _seed(database, fake_now)
    ours = asyncio.run(ours_latency(fake, database))
    plain = asyncio.run(per_candle_latency(fake, database))
    baseline = "one transaction per candle (same stream, fake, database)"
    return [
        Row(
            "streams: candle to row (200 symbols)",
            "p50",
            _percentile(ours, 50),
            "ms",
            baseline,
            _percentile(plain, 50),
            "-",
            higher_is_better=False,
        ),
        Row(
            "streams: candle to row (200 symbols)",
            "p99",
            _percentile(ours, 99),
            "ms",
            baseline,
            _percentile(plain, 99),
            "<= 100 ms",
            higher_is_better=False,
        ),
    ]


# -- reconnect -------------------------------------------------------------------------------------


def _restored(fake: Fake, wanted: set[str]) -> float:
    began = time.perf_counter()
    assert fake.ask("inject close_1006") == "ok"
    deadline = began + RESTORE_TIMEOUT
    while time.perf_counter() < deadline:
        if any(set(topics) == wanted for topics in fake.subscriptions()):
            return time.perf_counter() - began
        time.sleep(0.005)
    return RESTORE_TIMEOUT


async def ours_restore(fake: Fake, topics: list[str]) -> list[float]:
    samples = []
    async with BybitStream(public_url(fake.ws_url, "linear"), topics) as stream:
        await asyncio.wait_for(stream.wait_ready(), 30)
        for _ in range(RESTORES):
            # Each drop after a healthy period longer than the backoff's reset: a first failure.
            await asyncio.sleep(HEALTHY_SECONDS)
            samples.append(await asyncio.to_thread(_restored, fake, set(topics)))
            while not stream.status().connected:  # noqa: ASYNC110 - polled, as an operator would
                await asyncio.sleep(0.01)
    return samples


def pybit_restore(fake: Fake, symbols: list[str]) -> list[float]:
    ws = PybitOnFake(public_url(fake.ws_url, "linear"), channel_type="linear", testnet=False)
    try:
        ws.kline_stream(1, symbols, lambda message: None)
        wanted = {kline_topic("1", symbol) for symbol in symbols}
        deadline = time.monotonic() + 30
        while not any(set(topics) == wanted for topics in fake.subscriptions()):
            if time.monotonic() > deadline:
                raise RuntimeError("pybit did not subscribe")
            time.sleep(0.05)
        samples = []
        for _ in range(RESTORES):
            time.sleep(HEALTHY_SECONDS)
            samples.append(_restored(fake, wanted))
        return samples
    finally:
        ws.exit()


def restore_rows(fake: Fake) -> list[Row]:
    symbols = _symbols()
    topics = [kline_topic("1", symbol) for symbol in symbols]
    ours = asyncio.run(ours_restore(fake, topics))
    theirs = pybit_restore(fake, symbols)
    return [
        Row(
            "streams: reconnect (200 subscriptions)",
            "close 1006 -> all restored (worst of 4)",
            max(ours) * 1000,
            "ms",
            "pybit WebSocket (reconnects on socket errors)",
            max(theirs) * 1000,
            "<= 2000 ms",
            higher_is_better=False,
        )
    ]


def run() -> list[Row]:
    rows = parse_rows()
    with fake_exchange(0, SYMBOLS - 1) as fake, scratch_database("bench_streams") as url:
        settings = build_settings(
            environment="test",
            database_url_general=url,
            database_url_user=with_database(url, "bench_streams_unused_user"),
            celery_queue=f"bench-{uuid.uuid4().hex[:12]}",
        )
        upgrade(GENERAL_DB, settings, url=url)
        database = Database(GENERAL_DB, settings, application_name="bench-streams")
        try:
            rows += latency_rows(database, fake)
            rows += restore_rows(fake)
        finally:
            database.dispose_sync()
    return rows
