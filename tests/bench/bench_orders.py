"""Orders through the api against the fake exchange, beside a bare signed create through bybit-client.

- **Place to acknowledged, 50 users in parallel.** Each of 50 users places one order every
  ``INTERVAL`` seconds for ``SECONDS`` (an offered load of 5 orders/s: one api process on the shared
  two cores spends 25-36 ms of CPU per order, and at 20 or 100 orders/s it fell behind, its
  latencies growing to seconds as requests queued for the CPU and its database pool):
  through the api (``api-serve``,
  one uvicorn worker: token, key and rules read, the order stored pending, sent, its outcome
  stored) against 50 ``AsyncBybitClient``\\ s each placing the same orders straight at the same fake
  (signed, one create each, the client's own budget with the same address limit). p50 and p99 of
  the accepted answers; goal: the api's p99 within 2x the bare client's.
- **Orders accepted per second by one api process**, 50 users each placing as fast as answers come
  (a 429 waits its Retry-After), beside ``/health/live`` requests per second from the same client
  at the same concurrency; the process's CPU per accepted order is printed with it.

The fake runs in this process (a thread) with its per-account limits raised out of the way, so both
sides meet the same exchange and only the address budget bounds the rate. Fresh databases, dropped
at the end.

Measured (one run, load average 3.5-5 on the two shared cores): p99 880 ms against the bare
client's 206 ms (4.3x: the 2x goal is missed), p50 106 against 3.5 ms; 26 orders accepted per
second against 114 /health/live answers per second, about 29 ms of the api's CPU per order. An
order is a token check (a read and a write), the key and the idempotency key read, the rules read
from the general database, the order and its trail row stored and committed, a new connection to
Bybit per request (the credential routes' client, made per call), two Redis round trips for the
budget, the answer stored with its trail row and committed: about a dozen database round trips in
four transactions against the bare client's one HTTP call. What would shorten it (clients kept
per key between requests, fewer transactions) is not built; these are the figures.
"""

import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from pathlib import Path

import httpx
from bench_api import UNREACHED_LIMIT, cpu_seconds, fresh_databases, server
from harness import Row
from test_support.orders import Trader, new_traders

from bybit_client import AsyncBybitClient, BudgetPolicy
from bybit_client.budget import AsyncLocalBudget, LocalBudget
from bybit_client.testing import FakeBybit
from core_config import Settings

USERS = 50
INTERVAL = 10.0
SECONDS = 30
THROUGHPUT_SECONDS = 8
NAME = "orders"
LATENCY = "place to acknowledged at the fake, 50 users in parallel"
THROUGHPUT = "orders accepted per second by one api process"


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def _paced(place: Callable[[int], Awaitable[bool]], users: int) -> list[float]:
    """Each user places one order every INTERVAL s for SECONDS; the latencies (ms) of the accepted."""
    latencies: list[float] = []
    loop = asyncio.get_running_loop()

    async def user(index: int) -> None:
        start = loop.time() + index * INTERVAL / users  # spread the users over the interval
        for tick in range(int(SECONDS / INTERVAL)):
            await asyncio.sleep(max(0.0, start + tick * INTERVAL - loop.time()))
            began = time.perf_counter()
            if await place(index):
                latencies.append((time.perf_counter() - began) * 1000)

    await asyncio.gather(*(user(i) for i in range(users)))
    return latencies


async def _through_api(api: httpx.AsyncClient, traders: list[Trader]) -> list[float]:
    async def place(index: int) -> bool:
        trader = traders[index]
        answer = await api.post(
            "/v1/me/orders", json=trader.order(), headers={**trader.auth, "Idempotency-Key": uuid.uuid4().hex}
        )
        return answer.status_code == 201 and answer.json()["state"] == "accepted"

    return await _paced(place, len(traders))


async def _bare(fake: FakeBybit, keys: list[tuple[str, str]]) -> list[float]:
    budget = AsyncLocalBudget(LocalBudget(BudgetPolicy(ip_limit=600)))
    clients = [AsyncBybitClient(fake.base_url, key, secret, budget=budget) for key, secret in keys]

    async def place(index: int) -> bool:
        outcome = await clients[index].create_order("linear", "BTCUSDT", "Buy", "Limit", "1", price="10")
        return outcome.accepted

    try:
        return await _paced(place, len(clients))
    finally:
        for client in clients:
            await client.aclose()


async def _flood(request: Callable[[int], Awaitable[float | None]], users: int, seconds: float) -> int:
    """Each user sends as fast as answers come for ``seconds``; how many succeeded."""
    done = 0
    deadline = asyncio.get_running_loop().time() + seconds

    async def user(index: int) -> None:
        nonlocal done
        while asyncio.get_running_loop().time() < deadline:
            wait = await request(index)
            if wait is None:
                done += 1
            elif wait > 0:
                await asyncio.sleep(wait)

    await asyncio.gather(*(user(i) for i in range(users)))
    return done


async def _measure(base_url: str, pid: int, settings: Settings, fake: FakeBybit) -> list[Row]:
    limits = httpx.Limits(max_connections=USERS * 2, max_keepalive_connections=USERS * 2)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as api:
        traders = await new_traders(settings, api, fake, USERS)
        keys = []
        for _ in range(USERS):
            key, secret = f"B{uuid.uuid4().hex[:15].upper()}", uuid.uuid4().hex
            fake.add_key(key, secret)
            keys.append((key, secret))
        await _through_api(api, traders[:5])  # warm up: first connections, first statements
        rounds: list[tuple[float, float, float, float]] = []
        for round_ in range(2):  # alternate which side goes first
            if round_ % 2 == 0:
                api_ms, bare_ms = await _through_api(api, traders), await _bare(fake, keys)
            else:
                bare_ms, api_ms = await _bare(fake, keys), await _through_api(api, traders)
            rounds.append(
                (
                    _percentile(api_ms, 0.5),
                    _percentile(api_ms, 0.99),
                    _percentile(bare_ms, 0.5),
                    _percentile(bare_ms, 0.99),
                )
            )
            print(
                f"  round {round_ + 1}: api p50 {rounds[-1][0]:.1f} p99 {rounds[-1][1]:.1f} ms "
                f"({len(api_ms)} accepted); bare p50 {rounds[-1][2]:.1f} p99 {rounds[-1][3]:.1f} ms "
                f"({len(bare_ms)} accepted)",
                flush=True,
            )

        async def order(index: int) -> float | None:
            trader = traders[index]
            answer = await api.post(
                "/v1/me/orders",
                json=trader.order(),
                headers={**trader.auth, "Idempotency-Key": uuid.uuid4().hex},
            )
            if answer.status_code == 201:
                return None
            return float(answer.headers.get("Retry-After", "0.1"))

        async def live(index: int) -> float | None:
            return None if (await api.get("/health/live")).status_code == 200 else 0.0

        cpu_before = cpu_seconds(pid)
        accepted = await _flood(order, USERS, THROUGHPUT_SECONDS)
        cpu_per_order = (cpu_seconds(pid) - cpu_before) / max(1, accepted) * 1e6
        await asyncio.sleep(3)  # what the flood left (answers lost to timeouts) is resolved first
        served = await _flood(live, USERS, THROUGHPUT_SECONDS)
    print(f"  api CPU per accepted order: {cpu_per_order:,.0f} us (process {pid})", flush=True)
    med = [statistics.median(r[i] for r in rounds) for i in range(4)]
    bare = (
        "a bare signed create through bybit-client (AsyncBybitClient, one per user) at the same fake, "
        "same load"
    )
    return [
        Row(
            NAME,
            f"{LATENCY}: p99",
            med[1],
            "ms",
            bare,
            med[3],
            "<= 2x the baseline's p99 (ratio >= 0.5)",
            False,
        ),
        Row(NAME, f"{LATENCY}: p50", med[0], "ms", bare, med[2], "reported", False),
        Row(
            NAME,
            THROUGHPUT,
            accepted / THROUGHPUT_SECONDS,
            "orders/s",
            "/health/live requests per second of the same process, same client and concurrency",
            served / THROUGHPUT_SECONDS,
            "reported (the address's call budget, 600 per 5 s, caps the calls to Bybit at 120/s)",
        ),
    ]


def run() -> list[Row]:
    api_serve = str(Path(sys.executable).parent / "api-serve")
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-orders-")))
        settings = stack.enter_context(fresh_databases())
        fake = stack.enter_context(FakeBybit(seed=29))
        fake.uid_limits.scale = 1000  # Bybit's per-account limits out of the way of both sides
        log = work / "api.log"
        api = stack.enter_context(
            server(
                [api_serve],
                settings,
                log,
                "/health/live",
                ENVIRONMENT="test",  # staging names a network of Bybit's only; here it is the fake
                BYBIT_NETWORK=fake.network.value,
                BYBIT_API_URL=fake.base_url,
                BYBIT_IP_BUDGET="600",
                RATE_LIMIT_ACCOUNT=UNREACHED_LIMIT,
                RATE_LIMIT_CREDENTIAL_WRITES=UNREACHED_LIMIT,
                BYBIT_BUDGET_PREFIX=f"bench-orders-{uuid.uuid4().hex[:8]}",
            )
        )
        settings = settings.model_copy(update={"bybit_api_url": fake.base_url})
        return asyncio.run(_measure(api.url, api.pid, settings, fake))
