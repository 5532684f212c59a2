"""The call budget: its rules in memory (``LocalBudget``) and in a real Redis (``RedisBudget``,
``AsyncRedisBudget``), and the clients keeping to it against the fake exchange's rate-limit mode."""

import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from redis import Redis
from redis.asyncio import Redis as AsyncRedis

from bybit_client import (
    AsyncBybitClient,
    BudgetPolicy,
    BybitBudgetError,
    BybitClient,
    BybitRateLimitError,
    CallBudget,
    LimitSeen,
    LocalBudget,
)
from bybit_client.redis_budget import AsyncRedisBudget, RedisBudget
from bybit_client.testing import FakeBybit, Fault
from bybit_client.testing import fast_retry_policy as fast_retry

API_KEY = "testkey00001"
API_SECRET = "testsecret-do-not-leak-9f3a"
TIME = "/v5/market/time"
QUERY_API = "/v5/user/query-api"


@pytest.fixture
def redis() -> Iterator[Redis]:
    client = Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"), socket_timeout=5)
    yield client
    client.close()


@pytest.fixture
def prefix(redis: Redis) -> Iterator[str]:
    """A budget of this test's own in the shared Redis; its keys are removed afterwards."""
    name = f"test-budget-{uuid.uuid4().hex[:10]}"
    yield name
    keys = list(redis.scan_iter(match=f"{{{name}}}:*"))
    if keys:
        redis.delete(*keys)


def shared(redis: Redis, prefix: str, **policy: float | int | None) -> RedisBudget:
    return RedisBudget(redis, prefix=prefix, policy=BudgetPolicy(**policy))  # type: ignore[arg-type]


def budgets(redis: Redis, prefix: str) -> list[CallBudget]:
    """The two kinds of budget the rules must hold for."""
    return [LocalBudget(BudgetPolicy(ip_limit=5)), shared(redis, prefix, ip_limit=5)]


@pytest.mark.parametrize("kind", ["local", "redis"])
def test_a_group_without_a_stated_limit_counts_only_against_the_address(
    kind: str, redis: Redis, prefix: str
) -> None:
    budget = budgets(redis, prefix)[kind == "redis"]
    assert [budget.admit("/v5/market/kline") for _ in range(5)] == [None] * 5
    hold = budget.admit("/v5/market/tickers")  # another group: the address's 5 per 5 s are spent
    assert hold is not None
    assert 4.0 < hold.seconds <= 5.0
    assert "address" in hold.reason


@pytest.mark.parametrize("kind", ["local", "redis"])
def test_a_stated_limit_holds_the_group_until_its_reset(kind: str, redis: Redis, prefix: str) -> None:
    budget = budgets(redis, prefix)[kind == "redis"]
    budget.observe(QUERY_API, LimitSeen(limit=10, remaining=2, reset_in=3.0))
    assert budget.admit(QUERY_API) is None
    assert budget.admit(QUERY_API) is None
    hold = budget.admit(QUERY_API)
    assert hold is not None
    assert 2.5 < hold.seconds <= 3.1
    assert QUERY_API in hold.reason
    assert budget.admit(TIME) is None  # other groups go on


@pytest.mark.parametrize("kind", ["local", "redis"])
def test_the_lower_remaining_and_the_later_reset_stay(kind: str, redis: Redis, prefix: str) -> None:
    budget = budgets(redis, prefix)[kind == "redis"]
    budget.observe(QUERY_API, LimitSeen(limit=10, remaining=1, reset_in=3.0))
    # An answer sent before the other was counted: more left, an earlier reset. Neither is believed.
    budget.observe(QUERY_API, LimitSeen(limit=10, remaining=8, reset_in=0.5))
    assert budget.admit(QUERY_API) is None
    hold = budget.admit(QUERY_API)
    assert hold is not None
    assert hold.seconds > 2.5


@pytest.mark.parametrize("kind", ["local", "redis"])
def test_a_reset_already_past_opens_no_window(kind: str, redis: Redis, prefix: str) -> None:
    budget = budgets(redis, prefix)[kind == "redis"]
    budget.observe(QUERY_API, LimitSeen(limit=10, remaining=0, reset_in=-5.0))
    assert budget.admit(QUERY_API) is None


@pytest.mark.parametrize("kind", ["local", "redis"])
def test_a_pause_holds_every_group_and_a_shorter_one_does_not_shorten_it(
    kind: str, redis: Redis, prefix: str
) -> None:
    budget = budgets(redis, prefix)[kind == "redis"]
    budget.pause(30.0, "Bybit banned the address: access too frequent")
    budget.pause(1.0, "a shorter one")
    for group in (QUERY_API, TIME):
        hold = budget.admit(group)
        assert hold is not None
        assert 29 < hold.seconds <= 30
        assert hold.reason == "Bybit banned the address: access too frequent"


def calls_let_through_after_a_spent_window(budget: CallBudget, group: str) -> int:
    """Ask without pause until a call goes (the spent window ends), then count the calls that go
    before the next hold: all of them count in the next window. Asking in a tight loop meets the
    window's last millisecond (a Redis key's PTTL 0)."""
    deadline = time.monotonic() + 5
    while budget.admit(group) is not None:
        assert time.monotonic() < deadline, "the spent window never ended"
    let_through = 1
    while budget.admit(group) is None:
        let_through += 1
        assert let_through < 100
    return let_through


@pytest.mark.parametrize("kind", ["local", "redis"])
def test_the_call_that_goes_as_a_spent_window_ends_counts_in_the_next(
    kind: str, redis: Redis, prefix: str
) -> None:
    policy = BudgetPolicy(ip_limit=None)
    budget = LocalBudget(policy) if kind == "local" else RedisBudget(redis, prefix=prefix, policy=policy)
    for group in (f"/v5/market/kline-{n}" for n in range(3)):
        budget.observe(group, LimitSeen(limit=4, remaining=0, reset_in=0.02))
        assert calls_let_through_after_a_spent_window(budget, group) == 4  # the limit learnt


@pytest.mark.parametrize("kind", ["local", "redis"])
def test_the_call_that_goes_as_the_address_window_ends_counts_in_the_next(
    kind: str, redis: Redis, prefix: str
) -> None:
    policy = BudgetPolicy(ip_limit=3, ip_window=0.2)
    budget = LocalBudget(policy) if kind == "local" else RedisBudget(redis, prefix=prefix, policy=policy)
    assert [budget.admit(TIME) for _ in range(3)] == [None] * 3
    for _ in range(3):
        assert calls_let_through_after_a_spent_window(budget, TIME) == 3


def test_processes_holding_one_redis_budget_share_it(redis: Redis, prefix: str) -> None:
    first, second = shared(redis, prefix), shared(redis, prefix)
    first.observe(QUERY_API, LimitSeen(limit=3, remaining=3, reset_in=5.0))
    assert [second.admit(QUERY_API), first.admit(QUERY_API), second.admit(QUERY_API)] == [None] * 3
    assert first.admit(QUERY_API) is not None
    assert second.admit(QUERY_API) is not None
    second.pause(10.0, "banned")
    assert first.admit(TIME) is not None


def test_a_learnt_limit_opens_the_next_window_before_any_answer(redis: Redis, prefix: str) -> None:
    budget = shared(redis, prefix)
    budget.observe(QUERY_API, LimitSeen(limit=2, remaining=2, reset_in=0.05))
    time.sleep(0.2)  # that window is over; the limit is remembered
    assert budget.admit(QUERY_API) is None
    assert budget.admit(QUERY_API) is None
    assert budget.admit(QUERY_API) is not None  # two per window, as Bybit said


def test_every_key_of_a_redis_budget_expires(redis: Redis, prefix: str) -> None:
    budget = shared(redis, prefix)
    budget.observe(QUERY_API, LimitSeen(limit=3, remaining=3, reset_in=5.0))
    budget.admit(QUERY_API)
    budget.admit(TIME)
    budget.pause(2.0, "banned")
    keys = list(redis.scan_iter(match=f"{{{prefix}}}:*"))
    assert len(keys) == 4  # the pause, the address's window, query-api's window and limit
    assert all(0 < redis.pttl(key) <= 3_600_000 for key in keys)


def test_without_redis_a_process_keeps_its_own_budget(
    closed_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    dead = Redis(port=closed_port, socket_connect_timeout=0.5)
    budget = RedisBudget(dead, prefix="unreachable", policy=BudgetPolicy(ip_limit=2))
    started = time.monotonic()
    budget.observe(QUERY_API, LimitSeen(limit=5, remaining=0, reset_in=60.0))
    assert budget.admit(TIME) is None
    assert budget.admit(QUERY_API) is not None  # what this process saw still holds
    assert budget.admit(TIME) is None
    assert budget.admit(TIME) is not None  # and so does the address's limit of 2
    assert "Redis did not answer" in caplog.text
    # Redis is asked once, then left alone for a while: not one timeout per call.
    assert time.monotonic() - started < 10


async def test_the_async_budget_shares_the_sync_ones_keys(redis: Redis, prefix: str) -> None:
    client = AsyncRedis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    try:
        budget = AsyncRedisBudget(client, prefix=prefix)
        await budget.observe(QUERY_API, LimitSeen(limit=3, remaining=1, reset_in=5.0))
        assert shared(redis, prefix).admit(QUERY_API) is None
        hold = await budget.admit(QUERY_API)
        assert hold is not None
        await budget.pause(5.0, "banned")
        assert shared(redis, prefix).admit(TIME) is not None
    finally:
        await client.aclose()


# -- the clients against the fake exchange ----------------------------------------------------------


@pytest.fixture
def bybit(fake_bybit: FakeBybit) -> FakeBybit:
    fake_bybit.add_key(API_KEY, API_SECRET)
    return fake_bybit


def test_the_fake_refuses_past_its_limit_then_bans_a_caller_that_keeps_going(bybit: FakeBybit) -> None:
    bybit.limit_rate(3, window_ms=60_000, ban_after=2, ban_seconds=30)
    outcomes = []
    # No budget of our own and no retries: every call goes out.
    policy = BudgetPolicy(ip_limit=None, max_wait=0)
    with BybitClient(bybit.base_url, retry=fast_retry(max_attempts=1), budget=_Unlimited(policy)) as client:
        for _ in range(7):
            try:
                client.server_time()
                outcomes.append("ok")
            except BybitRateLimitError as error:
                outcomes.append(str(error.ret_code or error.http_status))
    assert outcomes == ["ok", "ok", "ok", "10006", "10006", "403", "403"]
    assert bybit.violations == 4
    assert bybit.banned_answers == 2


class _Unlimited:
    """A budget that lets everything through: how a caller without one behaves."""

    def __init__(self, policy: BudgetPolicy) -> None:
        self.policy = policy

    def admit(self, group: str) -> None:
        return None

    def observe(self, group: str, seen: LimitSeen) -> None:
        return None

    def pause(self, seconds: float, reason: str) -> None:
        return None


def test_a_client_keeps_to_the_limit_the_fake_announces(bybit: FakeBybit, redis: Redis, prefix: str) -> None:
    bybit.limit_rate(5, window_ms=500)
    with BybitClient(bybit.base_url, API_KEY, API_SECRET, budget=shared(redis, prefix)) as client:
        for _ in range(12):
            client.api_key_info()
            client.server_time()
    assert bybit.count() == 24
    assert bybit.violations == 0


def test_a_403_pauses_every_client_of_the_budget(bybit: FakeBybit, redis: Redis, prefix: str) -> None:
    budget = shared(redis, prefix, ban_seconds=60, max_wait=1)
    bybit.fail_next(1, Fault.HTTP_403)
    with (
        BybitClient(bybit.base_url, budget=budget) as first,
        BybitClient(bybit.base_url, budget=budget) as other,
    ):
        with pytest.raises(BybitRateLimitError) as banned:
            first.server_time()
        assert banned.value.http_status == 403
        with pytest.raises(BybitBudgetError) as held:
            other.server_time()
    assert bybit.count() == 1  # the second client sent nothing
    assert 55 < held.value.retry_after <= 60
    assert "access too frequent" in str(held.value)


@pytest.fixture
async def async_redis() -> AsyncIterator[AsyncRedis]:
    client = AsyncRedis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    yield client
    await client.aclose()


async def test_the_async_client_waits_for_its_budget(
    bybit: FakeBybit, async_redis: AsyncRedis, prefix: str
) -> None:
    bybit.limit_rate(4, window_ms=400)
    budget = AsyncRedisBudget(async_redis, prefix=prefix)
    async with AsyncBybitClient(bybit.base_url, API_KEY, API_SECRET, budget=budget) as client:
        for _ in range(10):
            await client.api_key_info()
    assert bybit.count(QUERY_API) == 10
    assert bybit.violations == 0
