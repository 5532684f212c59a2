"""bybit-client vs pybit against the local fake V5 server (each server in its own process).

Rows: sequential signed GETs (``/v5/user/query-api``) and public klines GETs (limit 200; ours parsed
into typed models, pybit's raw dicts) in requests per second; client CPU time per request, also
for klines pages that each bring a start time the client has not seen yet (its start-time cache
misses); the async client with 32 requests in flight against a server answering in 20 ms, versus
pybit sequential on the same server; and the cost of building and signing one request.

The fake announces a limit no run reaches, and our clients hold a budget without a limit of the
address's own (Bybit's 600 per 5 s would cap any run at 120 req/s): they consult it on every call,
as in production, without being held. The Redis rows put the same signed GETs with the budget
shared in Redis (``RedisBudget``, one Lua script per call and one per answer) beside the
in-process budget every client has by default: the cost of sharing it.

Trading rows ("order create ..."): market orders (alternately buy and sell, so the position stays
small) placed through our clients and through pybit on the same fake, which matches and fills
each; the fake's per-account limits are raised out of the way (``--uid-limit-scale``). Our client
CPU per order against pybit's, sequential; 32 creates in flight through the async client against
pybit sequential on a fake answering in 20 ms; and the fake itself, creates per second with
matching, in its own process (with the async client's 32 in flight, undelayed) and in process
(``TradingEngine.place``, no HTTP).
"""

import asyncio
import itertools
import logging
import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from harness import Row, stopwatch
from pybit.unified_trading import HTTP
from redis import Redis

from bybit_client import (
    AsyncBybitClient,
    AsyncLocalBudget,
    BudgetPolicy,
    BybitClient,
    Category,
    LocalBudget,
    OrderRequest,
    endpoints,
)
from bybit_client.core import ClientCore
from bybit_client.redis_budget import RedisBudget
from bybit_client.testing import FakeExchange

BENCHMARK = "bybit-client vs pybit"
KEY, SECRET = "benchkey0001", "benchsecret0001"
REQUESTS = 2_000
PYBIT_DELAYED_REQUESTS = 200  # pybit at 20 ms per answer: 200 sequential requests say enough
IN_FLIGHT = 32
HOUR_MS = 3_600_000
GOAL = ">= 1.5x"
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
# Our clients' budget here: no limit of the address's own (the fake is not Bybit).
UNCAPPED = BudgetPolicy(ip_limit=None)
ANNOUNCED_LIMIT = 1_000_000_000
ORDERS = 1_000
PYBIT_DELAYED_ORDERS = 100
FAKE_GOAL = 1_000.0  # order creates per second the fake must take, matching included
SIDES = itertools.cycle(("Buy", "Sell"))


@contextmanager
def fake_server(delay: float = 0.0) -> Iterator[str]:
    """A fake Bybit V5 server in its own process; yields its base URL."""
    command = [
        sys.executable,
        "-m",
        "bybit_client.testing",
        "--delay",
        str(delay),
        "--rate-limit",
        str(ANNOUNCED_LIMIT),
        "--key",
        f"{KEY}:{SECRET}",
        "--uid-limit-scale",
        "100000",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        yield process.stdout.readline().strip()
    finally:
        process.terminate()
        process.wait(timeout=10)


def pybit_session(base_url: str) -> HTTP:
    session = HTTP(api_key=KEY, api_secret=SECRET, max_retries=1)
    session.endpoint = base_url
    logging.getLogger("pybit").setLevel(logging.WARNING)
    return session


def sliding_windows() -> Callable[[], int]:
    """End times one hour further back at each call: every page holds a start not fetched before."""
    newest = (int(time.time() * 1000) // HOUR_MS - 1) * HOUR_MS
    steps = itertools.count()
    return lambda: newest - next(steps) * HOUR_MS


def measure(count: int, work: Callable[[], object]) -> tuple[float, float]:
    """(requests per second, CPU microseconds per request) of ``count`` calls of ``work``."""
    work()  # warm the connection
    cpu_before = time.process_time()
    with stopwatch() as elapsed:
        for _ in range(count):
            work()
    cpu = time.process_time() - cpu_before
    return count / elapsed(), cpu / count * 1e6


async def in_flight(base_url: str, total: int, concurrency: int) -> float:
    """Requests per second of ``total`` signed GETs with ``concurrency`` in flight."""
    budget = AsyncLocalBudget(LocalBudget(UNCAPPED))
    async with AsyncBybitClient(base_url, KEY, SECRET, max_connections=concurrency, budget=budget) as client:
        await asyncio.gather(*(client.api_key_info() for _ in range(concurrency)))  # open the pool
        remaining = iter(range(total))

        async def lane() -> None:
            for _ in remaining:
                await client.api_key_info()

        with stopwatch() as elapsed:
            await asyncio.gather(*(lane() for _ in range(concurrency)))
    return total / elapsed()


def signing_cost(base_url: str) -> tuple[float, float]:
    """Microseconds to build and sign one query-api request: ours, pybit's."""
    core = ClientCore(base_url, KEY, SECRET)
    call = endpoints.api_key_info()
    session = pybit_session(base_url)
    rounds = 20_000
    with stopwatch() as ours:
        for _ in range(rounds):
            core.prepare(call)
    with stopwatch() as theirs:
        for _ in range(rounds):
            payload = session.prepare_payload("GET", {})
            session._prepare_headers(payload, 5000)
    return ours() / rounds * 1e6, theirs() / rounds * 1e6


def budget_cost(base_url: str) -> tuple[tuple[float, float], tuple[float, float]]:
    """(req/s, CPU us per request) of sequential signed GETs: the in-process budget, the Redis one,
    alternated in rounds so that the machine's noise falls on both alike."""
    redis = Redis.from_url(REDIS_URL)
    prefix = f"bench-budget-{os.getpid()}"
    shared = RedisBudget(redis, prefix=prefix, policy=UNCAPPED)
    rounds, per_round = 4, REQUESTS // 4
    totals: dict[str, list[float]] = {"local": [0.0, 0.0], "redis": [0.0, 0.0]}
    try:
        with (
            BybitClient(base_url, KEY, SECRET, budget=LocalBudget(UNCAPPED)) as local,
            BybitClient(base_url, KEY, SECRET, budget=shared) as remote,
        ):
            for _ in range(rounds):
                for name, client in (("local", local), ("redis", remote)):
                    rate, cpu = measure(per_round, client.api_key_info)
                    totals[name][0] += per_round / rate
                    totals[name][1] += cpu * per_round
    finally:
        keys = list(redis.scan_iter(match=f"{{{prefix}}}:*"))
        if keys:
            redis.delete(*keys)
        redis.close()
    count = rounds * per_round
    local_rate, local_cpu = count / totals["local"][0], totals["local"][1] / count
    redis_rate, redis_cpu = count / totals["redis"][0], totals["redis"][1] / count
    return (local_rate, local_cpu), (redis_rate, redis_cpu)


def our_market_order(client: BybitClient) -> None:
    outcome = client.create_order("linear", "BTCUSDT", next(SIDES), "Market", "1")
    assert outcome.accepted, outcome


def pybit_market_order(session: HTTP) -> None:
    answer = session.place_order(
        category="linear",
        symbol="BTCUSDT",
        side=next(SIDES),
        orderType="Market",
        qty="1",
        orderLinkId=uuid.uuid4().hex,
    )
    assert answer["retCode"] == 0, answer


async def orders_in_flight(base_url: str, total: int, concurrency: int) -> float:
    """Order creates per second with ``concurrency`` in flight through the async client."""
    budget = AsyncLocalBudget(LocalBudget(UNCAPPED))
    async with AsyncBybitClient(base_url, KEY, SECRET, max_connections=concurrency, budget=budget) as client:
        sides = itertools.cycle(("Buy", "Sell"))

        async def one() -> None:
            outcome = await client.create_order("linear", "BTCUSDT", next(sides), "Market", "1")
            assert outcome.accepted, outcome

        await asyncio.gather(*(one() for _ in range(concurrency)))  # open the pool
        remaining = iter(range(total))

        async def lane() -> None:
            for _ in remaining:
                await one()

        with stopwatch() as elapsed:
            await asyncio.gather(*(lane() for _ in range(concurrency)))
    return total / elapsed()


def engine_creates_per_second(count: int) -> float:
    """Order creates per second of the fake's engine alone (matching and fills, no HTTP)."""
    exchange = FakeExchange(seed=1)
    exchange.add_key(KEY, SECRET, balances={"USDT": "100000000"})
    user = exchange.user_of(KEY)
    engine = exchange.engine
    rand = random.Random(1)
    market = exchange.price("BTCUSDT")
    requests = [
        OrderRequest(symbol="BTCUSDT", side="Buy", order_type="Market", qty="1")
        if rand.random() < 0.5
        else OrderRequest(symbol="BTCUSDT", side="Sell", order_type="Limit", qty="1", price=market - 1)
        for _ in range(count)
    ]
    with stopwatch() as elapsed:
        for request in requests:
            engine.place(user, Category.LINEAR, request)
    return count / elapsed()


def trading_rows() -> list[Row]:
    with fake_server() as base_url:
        session = pybit_session(base_url)
        with BybitClient(base_url, KEY, SECRET, budget=LocalBudget(UNCAPPED)) as client:
            ours = measure(ORDERS, lambda: our_market_order(client))
            theirs = measure(ORDERS, lambda: pybit_market_order(session))
        fake_http = asyncio.run(orders_in_flight(base_url, ORDERS, IN_FLIGHT))
    with fake_server(delay=0.02) as delayed_url:
        ours_parallel = asyncio.run(orders_in_flight(delayed_url, ORDERS, IN_FLIGHT))
        delayed = pybit_session(delayed_url)
        pybit_sequential, _ = measure(PYBIT_DELAYED_ORDERS, lambda: pybit_market_order(delayed))
    fake_engine = engine_creates_per_second(10 * ORDERS)
    return [
        Row(
            BENCHMARK,
            "order create client cpu per order",
            ours[1],
            "us cpu per order create, sequential",
            "pybit",
            theirs[1],
            "<= 0.5x pybit (>= 2x)",
            higher_is_better=False,
        ),
        Row(BENCHMARK, "order create sequential req/s", ours[0], "orders/s", "pybit", theirs[0], "report"),
        Row(
            BENCHMARK,
            "order create 32 in flight at 20 ms",
            ours_parallel,
            "orders/s",
            "pybit sequential",
            pybit_sequential,
            ">= 20x",
        ),
        Row(
            BENCHMARK,
            "fake order creates/s with matching, over HTTP",
            fake_http,
            "orders/s (async client, 32 in flight)",
            "goal",
            FAKE_GOAL,
            ">= 1,000/s (reported)",
        ),
        Row(
            BENCHMARK,
            "fake order creates/s with matching, in process",
            fake_engine,
            "orders/s (TradingEngine.place)",
            "goal",
            FAKE_GOAL,
            ">= 1,000/s (reported)",
        ),
    ]


def run() -> list[Row]:
    return trading_rows() + rest_rows()


def rest_rows() -> list[Row]:
    with fake_server() as base_url:
        session = pybit_session(base_url)
        with BybitClient(base_url, KEY, SECRET, budget=LocalBudget(UNCAPPED)) as client:
            ours_signed = measure(REQUESTS, client.api_key_info)
            pybit_signed = measure(REQUESTS, session.get_api_key_information)
            ours_klines = measure(REQUESTS, lambda: client.klines("linear", "BTCUSDT", "60", limit=200))
            pybit_klines = measure(
                REQUESTS,
                lambda: session.get_kline(category="linear", symbol="BTCUSDT", interval="60", limit=200),
            )
            ours_end, pybit_end = sliding_windows(), sliding_windows()
            ours_sliding = measure(
                REQUESTS, lambda: client.klines("linear", "BTCUSDT", "60", end=ours_end(), limit=200)
            )
            pybit_sliding = measure(
                REQUESTS,
                lambda: session.get_kline(
                    category="linear", symbol="BTCUSDT", interval="60", end=pybit_end(), limit=200
                ),
            )
        sign_ours, sign_pybit = signing_cost(base_url)
        local_budget, redis_budget = budget_cost(base_url)
    with fake_server(delay=0.02) as delayed_url:
        ours_parallel = asyncio.run(in_flight(delayed_url, REQUESTS, IN_FLIGHT))
        pybit_sequential, _ = measure(
            PYBIT_DELAYED_REQUESTS, pybit_session(delayed_url).get_api_key_information
        )

    return [
        Row(BENCHMARK, "sequential signed req/s", ours_signed[0], "req/s", "pybit", pybit_signed[0], GOAL),
        Row(BENCHMARK, "sequential klines req/s", ours_klines[0], "req/s", "pybit", pybit_klines[0], GOAL),
        # Like for like: both sign, send and decode the same JSON.
        Row(
            BENCHMARK,
            "client cpu per request",
            ours_signed[1],
            "us cpu per signed GET",
            "pybit",
            pybit_signed[1],
            ">= 2x (at most half)",
            higher_is_better=False,
        ),
        # Ours also builds 200 typed candles (1,200 Decimals, 200 datetimes); pybit returns strings.
        Row(
            BENCHMARK,
            "client cpu per klines request",
            ours_klines[1],
            "us cpu per klines GET (typed vs raw)",
            "pybit",
            pybit_klines[1],
            ">= 2x (at most half)",
            higher_is_better=False,
        ),
        # The same, each page one hour further back: one start per page is new to the client.
        Row(
            BENCHMARK,
            "client cpu per klines request, new starts",
            ours_sliding[1],
            "us cpu per klines GET (typed vs raw)",
            "pybit",
            pybit_sliding[1],
            ">= 2x (at most half)",
            higher_is_better=False,
        ),
        Row(
            BENCHMARK,
            "32 in flight at 20 ms req/s",
            ours_parallel,
            "req/s",
            "pybit sequential",
            pybit_sequential,
            ">= 20x",
        ),
        Row(
            BENCHMARK,
            "signed req/s, Redis budget",
            redis_budget[0],
            "req/s",
            "in-process budget",
            local_budget[0],
            "report",
        ),
        Row(
            BENCHMARK,
            "client cpu per request, Redis budget",
            redis_budget[1],
            "us cpu per signed GET",
            "in-process budget",
            local_budget[1],
            "report",
            higher_is_better=False,
        ),
        Row(
            BENCHMARK,
            "Redis budget wall time per call",
            (1 / redis_budget[0] - 1 / local_budget[0]) * 1e6,
            "us added per signed GET",
            "in-process budget",
            0.0,
            "report",
            higher_is_better=False,
        ),
        Row(
            BENCHMARK,
            "signing cost per request",
            sign_ours,
            "us",
            "pybit",
            sign_pybit,
            "report",
            higher_is_better=False,
        ),
    ]
