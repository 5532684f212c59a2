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
"""

import asyncio
import itertools
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from harness import Row, stopwatch
from pybit.unified_trading import HTTP
from redis import Redis

from bybit_client import AsyncBybitClient, AsyncLocalBudget, BudgetPolicy, BybitClient, LocalBudget, endpoints
from bybit_client.core import ClientCore
from bybit_client.redis_budget import RedisBudget

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


def run() -> list[Row]:
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
