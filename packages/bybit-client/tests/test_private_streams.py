"""The private stream against the fake exchange: what it pushes equals what REST answers afterwards,
also when pushes come twice or out of order (a consumer recognises both by the items' own marks),
and faults reach one account's connections only."""

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from bybit_client import AsyncBybitClient, Category, Execution, Order, OrderRequest, Position, WalletBalance
from bybit_client.streams import (
    Backoff,
    BybitStream,
    Connected,
    ExecutionMessage,
    OrderMessage,
    PositionMessage,
    StreamItem,
    StreamSettings,
    WalletMessage,
    private_url,
)
from bybit_client.testing import FakeBybit, StreamFault, fast_retry_policy

API_KEY = "privkey00001"
API_SECRET = "priv-secret-do-not-leak-77"
TOPICS = ["order", "execution", "position", "wallet"]
FAST = StreamSettings(
    ping_interval=0.5,
    silence_timeout=2.0,
    reply_timeout=3.0,
    backoff=Backoff(base=0.02, cap=0.2, reset_after=10.0),
)
WAIT = 10.0


class Ledger:
    """What a consumer keeps of the private stream, by the rules the stream module documents."""

    def __init__(self) -> None:
        self.orders: dict[str, Order] = {}
        self.executions: dict[str, Execution] = {}
        self.positions: dict[tuple[Category | None, str], Position] = {}
        self.wallet: WalletBalance | None = None
        self.wallet_at: datetime | None = None
        self.repeats = 0  # pushes recognised as seen before
        self.late = 0  # pushes recognised as older than what was known

    def _judge(self, known: Any, fresh: Any) -> bool:
        """Whether ``fresh`` (a version) replaces ``known``; counts a repeat or a late one."""
        if known is None or fresh > known:
            return True
        if fresh == known:
            self.repeats += 1
        else:
            self.late += 1
        return False

    def apply(self, item: StreamItem) -> None:
        if isinstance(item, OrderMessage):
            for order in item.orders:
                known = self.orders.get(order.order_id)
                if self._judge(None if known is None else known.version, order.version):
                    self.orders[order.order_id] = order
        elif isinstance(item, ExecutionMessage):
            for execution in item.executions:
                if execution.exec_id in self.executions:
                    self.repeats += 1
                self.executions[execution.exec_id] = execution
        elif isinstance(item, PositionMessage):
            for position in item.positions:
                key = (position.category, position.symbol)
                known_position = self.positions.get(key)
                if self._judge(None if known_position is None else known_position.version, position.version):
                    self.positions[key] = position
        elif isinstance(item, WalletMessage) and self._judge(self.wallet_at, item.creation_time):
            self.wallet, self.wallet_at = item.wallets[0], item.creation_time


async def eventually(check: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT):
        while not check():  # noqa: ASYNC110 - polling state filled by another task
            await asyncio.sleep(0.02)


@pytest.fixture
def bybit(fake_bybit: FakeBybit) -> FakeBybit:
    fake_bybit.add_key(API_KEY, API_SECRET)
    return fake_bybit


@pytest.fixture
async def rest(bybit: FakeBybit) -> AsyncIterator[AsyncBybitClient]:
    bybit.uid_limits.scale = 10  # the scenario places faster than Bybit's 10 a second
    async with AsyncBybitClient(bybit.base_url, API_KEY, API_SECRET, retry=fast_retry_policy()) as client:
        yield client


async def follow(stream: BybitStream, ledger: Ledger) -> None:
    async for item in stream:
        ledger.apply(item)


async def trade(bybit: FakeBybit, rest: AsyncBybitClient) -> None:
    """Market orders over several book levels, a resting order filled over two ticks, an amendment,
    cancels, a spot buy: every kind of push, the last ones after the last price move."""
    bybit.set_liquidity("BTCUSDT", "3")
    market = bybit.price("BTCUSDT")
    assert (await rest.create_order("linear", "BTCUSDT", "Buy", "Market", "7")).accepted
    resting = await rest.create_order("linear", "BTCUSDT", "Sell", "Limit", "5", price=market + 1)
    spare = await rest.create_order("linear", "BTCUSDT", "Buy", "Limit", "2", price=market - 2)
    assert (await rest.amend_order("linear", "BTCUSDT", order_id=spare.order_id, qty="3")).accepted
    bybit.set_price("BTCUSDT", market + Decimal("1.5"))
    bybit.tick()
    assert (
        await rest.create_order("spot", "ETHUSDT", "Buy", "Market", "0.2", market_unit="baseCoin")
    ).accepted
    assert (await rest.cancel_order("linear", "BTCUSDT", order_id=spare.order_id)).accepted
    assert resting.accepted


async def assert_rest_agrees(bybit: FakeBybit, rest: AsyncBybitClient, ledger: Ledger) -> None:
    expected = len(bybit.executions(API_KEY))
    placed = {order["orderId"] for order in bybit.orders(API_KEY)}
    await eventually(lambda: len(ledger.executions) == expected and set(ledger.orders) == placed)
    await asyncio.sleep(0.2)  # anything still in flight (a held push) lands
    for order_id, pushed in ledger.orders.items():
        assert pushed.category is not None
        found = await rest.find_order(pushed.category, order_id=order_id)
        assert found == pushed.model_copy(update={"category": None})
    start, end = bybit.now_ms() - 60_000, bybit.now_ms()
    listed = [
        fill for category in ("linear", "spot") async for fill in rest.iter_executions(category, start, end)
    ]
    assert {fill.exec_id: fill for fill in listed} == {
        exec_id: fill.model_copy(update={"category": None}) for exec_id, fill in ledger.executions.items()
    }
    (position,) = await rest.positions("linear", symbol="BTCUSDT")
    assert ledger.positions[(Category.LINEAR, "BTCUSDT")].model_copy(update={"category": None}) == position
    assert ledger.wallet == await rest.wallet_balance()


async def trade_and_compare(bybit: FakeBybit, rest: AsyncBybitClient) -> Ledger:
    """Follow the private stream through ``trade``; its ledger must end equal to REST."""
    ledger = Ledger()
    async with BybitStream(
        private_url(bybit.ws_url), TOPICS, api_key=API_KEY, api_secret=API_SECRET, settings=FAST
    ) as stream:
        await asyncio.wait_for(stream.wait_ready(), WAIT)
        follower = asyncio.create_task(follow(stream, ledger))
        await trade(bybit, rest)
        await assert_rest_agrees(bybit, rest, ledger)
        follower.cancel()
    return ledger


async def test_private_pushes_equal_what_rest_reports_afterwards(
    bybit: FakeBybit, rest: AsyncBybitClient
) -> None:
    ledger = await trade_and_compare(bybit, rest)
    assert ledger.late == 0  # in order without faults (an unchanged position may repeat)


async def test_duplicated_and_reordered_pushes_are_recognised(
    bybit: FakeBybit, rest: AsyncBybitClient
) -> None:
    bybit.streams.private_faults(duplicate=0.25, reorder=0.25, api_key=API_KEY)
    ledger = await trade_and_compare(bybit, rest)
    counts = bybit.streams.private_feed.counts
    assert counts["duplicated"] > 0
    assert counts["reordered"] > 0
    assert ledger.repeats >= counts["duplicated"]  # every duplicate recognised as such
    assert ledger.late > 0  # and older states arriving after newer ones recognised as late


async def test_faults_reach_one_accounts_connections_and_topics_split_by_category(bybit: FakeBybit) -> None:
    bybit.add_key("otherkey0002", "other-secret-2")
    ours = BybitStream(
        private_url(bybit.ws_url), ["order.spot"], api_key=API_KEY, api_secret=API_SECRET, settings=FAST
    )
    theirs = BybitStream(
        private_url(bybit.ws_url),
        ["order"],
        api_key="otherkey0002",
        api_secret="other-secret-2",
        settings=FAST,
    )
    async with ours, theirs:
        await asyncio.wait_for(asyncio.gather(ours.wait_ready(), theirs.wait_ready()), WAIT)
        hit = await asyncio.wrap_future(bybit.streams.inject(StreamFault.DROP, api_key=API_KEY))
        assert hit == 1
        async with asyncio.timeout(WAIT):
            async for item in ours:
                if isinstance(item, Connected) and item.reconnects:
                    break
        assert (ours.reconnects, theirs.reconnects) == (1, 0)
        spot_below = bybit.price("BTCUSDT", category="spot") - 1
        bybit.place_order(
            API_KEY,
            "linear",
            OrderRequest(
                symbol="BTCUSDT", side="Buy", order_type="Limit", qty="1", price=bybit.price("BTCUSDT") - 1
            ),
        )
        bybit.place_order(
            API_KEY,
            "spot",
            OrderRequest(symbol="BTCUSDT", side="Buy", order_type="Limit", qty="0.1", price=spot_below),
        )  # placed elsewhere
        async with asyncio.timeout(WAIT):
            async for item in ours:
                if isinstance(item, OrderMessage):
                    assert item.topic == "order.spot"
                    assert [order.category for order in item.orders] == [Category.SPOT]
                    break
