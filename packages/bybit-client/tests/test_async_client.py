"""The async client gives the same results as the sync one, and shares its retry and clock logic."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from bybit_client import AsyncBybitClient, BybitClient, BybitTransientError, OrderRequest, RetryPolicy
from bybit_client.testing import FakeBybit, Fault

QUERY_API = "/v5/user/query-api"


async def test_sync_and_async_give_the_same_results(
    client: BybitClient, async_client: AsyncBybitClient, bybit: FakeBybit
) -> None:
    start = datetime(2025, 3, 1, tzinfo=UTC)
    end = start + timedelta(minutes=1500)
    assert client.server_time().time.tzinfo is (await async_client.server_time()).time.tzinfo
    for category in ("spot", "linear", "inverse", "option"):
        sync_items = list(client.iter_instruments(category, limit=300))
        async_items = [item async for item in async_client.iter_instruments(category, limit=300)]
        assert sync_items == async_items
    assert client.tickers("linear") == await async_client.tickers("linear")
    assert client.klines("linear", "BTCUSDT", "D", end=end) == await async_client.klines(
        "linear", "BTCUSDT", "D", end=end
    )
    sync_range = list(client.iter_klines_range("spot", "SOLUSDT", "1", start, end))
    async_range = [
        kline async for kline in async_client.iter_klines_range("spot", "SOLUSDT", "1", start, end)
    ]
    assert sync_range == async_range
    assert len(sync_range) == 1501
    assert client.api_key_info() == await async_client.api_key_info()
    assert client.wallet_balance() == await async_client.wallet_balance()
    above = bybit.price("BTCUSDT") + 1  # a sell above the market rests
    placed = await async_client.create_order("linear", "BTCUSDT", "Sell", "Limit", "2", price=above)
    assert client.open_orders("linear", symbol="BTCUSDT") == await async_client.open_orders(
        "linear", symbol="BTCUSDT"
    )
    cancelled = await async_client.cancel_order("linear", "BTCUSDT", order_link_id=placed.order_link_id)
    assert (cancelled.accepted, cancelled.result) == (True, placed.result)
    assert client.find_order("linear", order_id=placed.order_id) == await async_client.find_order(
        "linear", order_id=placed.order_id
    )
    batch = [OrderRequest(symbol="BTCUSDT", side="Sell", order_type="Limit", qty="1", price=above)] * 2
    first, second = await async_client.create_orders("linear", batch)
    assert (first.outcome, second.outcome, second.repeated) == (
        "accepted",
        "accepted",
        True,
    )  # one id, one order
    assert [o.order_id for o in await async_client.open_orders("linear", symbol="BTCUSDT")] == [
        first.order_id
    ]


async def test_async_retries_and_clock_recovery(async_client: AsyncBybitClient, bybit: FakeBybit) -> None:
    bybit.fail_next(2, Fault.HTTP_5XX, path=QUERY_API)
    await async_client.api_key_info()
    assert bybit.count(QUERY_API) == 3
    bybit.clock_offset_ms = 20_000
    await async_client.wallet_balance()
    assert async_client.clock_offset_ms > 19_000
    assert async_client.rate_limit is not None


async def test_async_requests_in_flight_together(async_client: AsyncBybitClient, bybit: FakeBybit) -> None:
    results = await asyncio.gather(*(async_client.api_key_info() for _ in range(40)))
    assert {info.api_key for info in results} == {"testkey00001"}
    assert bybit.count(QUERY_API) == 40


async def test_async_timeout_is_transient(bybit: FakeBybit) -> None:
    bybit.slow_seconds = 0.5
    bybit.fail_next(1, Fault.SLOW)
    async with AsyncBybitClient(bybit.base_url, timeout=0.1, retry=RetryPolicy(max_attempts=1)) as client:
        with pytest.raises(BybitTransientError):
            await client.server_time()


async def test_awkward_values_sign_correctly_async(async_client: AsyncBybitClient) -> None:
    for coin in ("A B", "A+B", "É,Ü", "x%41"):
        assert (await async_client.wallet_balance(coin)).coins == []
