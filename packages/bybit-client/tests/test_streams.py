"""The WebSocket streams against the fake exchange's streams: supervision, faults, order books, login."""

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from decimal import Decimal

import pytest

from bybit_client import AsyncBybitClient, BybitStreamAuthError, BybitSubscriptionError
from bybit_client.streams import (
    Backoff,
    BybitStream,
    Connected,
    ConnectionBudget,
    Disconnected,
    KlineMessage,
    OrderBookResync,
    OrderMessage,
    StreamItem,
    StreamSettings,
    TradeMessage,
    kline_topic,
    orderbook_topic,
    private_url,
    public_url,
    ticker_topic,
    trade_topic,
)
from bybit_client.testing import FakeBybit, StreamFault, fast_retry_policy

FAST = StreamSettings(
    ping_interval=0.2,
    silence_timeout=0.8,
    connect_timeout=3.0,
    reply_timeout=3.0,
    backoff=Backoff(base=0.02, cap=0.2, reset_after=10.0),
)
WAIT = 10.0  # upper bound for anything that should happen soon; never reached when all is well
BOOK = orderbook_topic(50, "BTCUSDT")
API_KEY = "streamkey0001"
API_SECRET = "stream-secret-do-not-leak-4b1e"


async def next_of(stream: BybitStream, match: Callable[[StreamItem], bool]) -> StreamItem:
    async with asyncio.timeout(WAIT):
        async for item in stream:
            if match(item):
                return item
    raise AssertionError("the stream ended")


async def eventually(check: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT):
        while not check():  # noqa: ASYNC110 - polling state owned by another thread (the fake's)
            await asyncio.sleep(0.01)


async def drain(stream: BybitStream) -> None:
    """Consume a stream in the background (its queue is bounded: an unread stream stops reading)."""
    async for _ in stream:
        pass


@pytest.fixture
async def spot_stream(fake_bybit: FakeBybit) -> AsyncIterator[BybitStream]:
    # 12 topics: more than spot's 10 args per request, so the restore is sent in chunks.
    symbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"]
    topics = [kline_topic("1", symbol) for symbol in symbols]
    topics += [ticker_topic(symbol) for symbol in symbols]
    topics += [trade_topic(symbol) for symbol in symbols[:3]] + [orderbook_topic(50, "BTCUSDT")]
    async with BybitStream(public_url(fake_bybit.ws_url, "spot"), topics, settings=FAST) as stream:
        await asyncio.wait_for(stream.wait_ready(), WAIT)
        yield stream


@pytest.mark.parametrize(
    "fault", [StreamFault.DROP, StreamFault.SILENCE, StreamFault.ERROR_FRAME, StreamFault.CLOSE_1006]
)
async def test_every_subscription_restored_after_each_fault(
    fake_bybit: FakeBybit, spot_stream: BybitStream, fault: StreamFault
) -> None:
    wanted = set(spot_stream.topics)
    assert len(wanted) == 12
    assert fake_bybit.streams.subscriptions() == [wanted]

    assert await asyncio.wrap_future(fake_bybit.streams.inject(fault)) == 1
    lost = await next_of(spot_stream, lambda item: isinstance(item, Disconnected))
    back = await next_of(spot_stream, lambda item: isinstance(item, Connected))

    assert isinstance(lost, Disconnected)
    assert isinstance(back, Connected)
    assert back.reconnects == 1
    assert set(back.topics) == wanted
    await eventually(lambda: fake_bybit.streams.subscriptions() == [wanted])
    assert fake_bybit.streams.connects["/v5/public/spot"] == 2
    # After an error frame the fake refuses the first restore request: its topics are asked again
    # one by one on the same connection, and all accepted.
    assert fake_bybit.streams.refuse_subscribes["/v5/public/spot"] == 0
    # Data flows on the new connection.
    await asyncio.wrap_future(fake_bybit.streams.publish_trade(trade_topic("ETHUSDT")))
    trade = await next_of(spot_stream, lambda item: isinstance(item, TradeMessage))
    assert isinstance(trade, TradeMessage)
    assert trade.trades[0].symbol == "ETHUSDT"
    assert spot_stream.status().reconnects == 1


async def test_a_quiet_connection_is_kept_by_pings(fake_bybit: FakeBybit) -> None:
    # Nothing is pushed on a bare ticker subscription after its snapshot: only pongs arrive, and
    # they keep the silence watchdog quiet for several of its periods.
    async with BybitStream(
        public_url(fake_bybit.ws_url, "linear"), [ticker_topic("BTCUSDT")], settings=FAST
    ) as stream:
        await asyncio.wait_for(stream.wait_ready(), WAIT)
        await asyncio.sleep(FAST.silence_timeout * 3)
        assert stream.status().connected
        assert stream.reconnects == 0
        assert fake_bybit.streams.connects["/v5/public/linear"] == 1


async def test_a_refused_subscription_is_a_typed_error(fake_bybit: FakeBybit) -> None:
    async with BybitStream(
        public_url(fake_bybit.ws_url, "linear"), [ticker_topic("BTCUSDT")], settings=FAST
    ) as stream:
        await asyncio.wait_for(stream.wait_ready(), WAIT)
        with pytest.raises(BybitSubscriptionError) as refused:
            await stream.subscribe(kline_topic("1", "NOSUCHUSDT"))
        assert refused.value.topics == ("kline.1.NOSUCHUSDT",)
        assert "NOSUCHUSDT" in refused.value.ret_msg
        assert stream.topics == (ticker_topic("BTCUSDT"),)
        await stream.subscribe(kline_topic("5", "ETHUSDT"))
        assert fake_bybit.streams.subscriptions() == [{"tickers.BTCUSDT", "kline.5.ETHUSDT"}]


async def test_confirmed_candles_carry_the_rest_data(fake_bybit: FakeBybit) -> None:
    fake_bybit.streams.kline_tick_seconds = 0.02
    topic = kline_topic("1", "BTCUSDT")
    async with (
        BybitStream(public_url(fake_bybit.ws_url, "linear"), [topic], settings=FAST) as stream,
        AsyncBybitClient(fake_bybit.base_url, retry=fast_retry_policy()) as rest,
    ):
        await asyncio.wait_for(stream.wait_ready(), WAIT)
        await next_of(stream, lambda item: isinstance(item, KlineMessage))
        fake_bybit.clock_offset_ms += 60_000  # the minute closes
        item = await next_of(stream, lambda item: isinstance(item, KlineMessage) and item.candles[0].confirm)
        assert isinstance(item, KlineMessage)
        candle = item.candles[0]
        page = await rest.klines("linear", "BTCUSDT", "1", start=candle.start, end=candle.start)
        assert [candle.kline()] == page.items
        assert item.symbol == "BTCUSDT"
        assert item.interval == "1"


async def test_order_book_equals_a_fresh_snapshot_after_10000_random_deltas(fake_bybit: FakeBybit) -> None:
    url = public_url(fake_bybit.ws_url, "linear")
    async with BybitStream(url, [BOOK], settings=FAST) as stream, asyncio.TaskGroup() as tasks:
        await asyncio.wait_for(stream.wait_ready(), WAIT)
        consumer = tasks.create_task(drain(stream))
        assert (
            await asyncio.wrap_future(fake_bybit.streams.publish_orderbook_deltas(BOOK, 10_000, seed=16))
            == 10_000
        )
        await eventually(
            lambda: (seen := stream.order_book(BOOK)) is not None and seen.update_id == 100 + 10_000
        )
        book = stream.order_book(BOOK)
        assert book is not None
        assert book.synced
        async with BybitStream(url, [BOOK], settings=FAST) as fresh:
            await asyncio.wait_for(fresh.wait_ready(), WAIT)
            await eventually(lambda: (fresh_book := fresh.order_book(BOOK)) is not None and fresh_book.synced)
            snapshot = fresh.order_book(BOOK)
            assert snapshot is not None
            assert book.levels() == snapshot.levels() == fake_bybit.streams.book_levels(BOOK)
            assert snapshot.update_id == book.update_id
        bids, asks = book.levels()
        assert bids
        assert asks
        assert bids[0][0] < asks[0][0]
        consumer.cancel()


async def test_a_skipped_delta_is_detected_and_the_book_rebuilt(fake_bybit: FakeBybit) -> None:
    async with BybitStream(public_url(fake_bybit.ws_url, "linear"), [BOOK], settings=FAST) as stream:
        await asyncio.wait_for(stream.wait_ready(), WAIT)
        await asyncio.wrap_future(fake_bybit.streams.publish_orderbook_deltas(BOOK, 20, seed=1))
        await asyncio.wrap_future(fake_bybit.streams.inject(StreamFault.SKIP_DELTA))
        await asyncio.wrap_future(fake_bybit.streams.publish_orderbook_deltas(BOOK, 20, seed=2))
        resync = await next_of(stream, lambda item: isinstance(item, OrderBookResync))
        assert isinstance(resync, OrderBookResync)
        assert (resync.topic, resync.expected, resync.received) == (BOOK, 121, 122)
        book = stream.order_book(BOOK)
        await eventually(lambda: book is not None and book.synced)
        assert book is not None
        assert book.levels() == fake_bybit.streams.book_levels(BOOK)
        await asyncio.wrap_future(fake_bybit.streams.publish_orderbook_deltas(BOOK, 200, seed=3))
        await eventually(lambda: book.update_id == 100 + 240)
        assert book.levels() == fake_bybit.streams.book_levels(BOOK)
        assert stream.reconnects == 0  # a resubscribe, not a reconnect


async def test_private_stream_logs_in_and_pushes_orders(fake_bybit: FakeBybit) -> None:
    fake_bybit.add_key(API_KEY, API_SECRET)
    async with (
        BybitStream(
            private_url(fake_bybit.ws_url),
            ["order", "wallet"],
            api_key=API_KEY,
            api_secret=API_SECRET,
            settings=FAST,
        ) as stream,
        AsyncBybitClient(fake_bybit.base_url, API_KEY, API_SECRET, retry=fast_retry_policy()) as rest,
    ):
        await asyncio.wait_for(stream.wait_ready(), WAIT)
        assert fake_bybit.streams.subscriptions("/v5/private") == [{"order", "wallet"}]
        below = fake_bybit.price("BTCUSDT") - 1  # a buy below the market rests
        placed = await rest.create_order("linear", "BTCUSDT", "Buy", "Limit", Decimal("0.5"), price=below)
        pushed = await next_of(stream, lambda item: isinstance(item, OrderMessage))
        assert isinstance(pushed, OrderMessage)
        (order,) = pushed.orders
        assert (order.order_id, order.category, order.qty, order.price) == (
            placed.order_id,
            "linear",
            Decimal("0.5"),
            below,
        )
        # A reconnect logs in again before restoring the private topics.
        await asyncio.wrap_future(fake_bybit.streams.inject(StreamFault.CLOSE_1006))
        await next_of(stream, lambda item: isinstance(item, Connected))
        await eventually(lambda: fake_bybit.streams.subscriptions("/v5/private") == [{"order", "wallet"}])


@pytest.mark.parametrize(
    ("api_key", "secret", "reason"),
    [(API_KEY, "not-the-secret", "Invalid sign"), ("unknownkey01", API_SECRET, "Invalid apikey")],
)
async def test_a_wrong_key_is_refused_with_a_clear_error(
    fake_bybit: FakeBybit, api_key: str, secret: str, reason: str
) -> None:
    fake_bybit.add_key(API_KEY, API_SECRET)
    stream = BybitStream(
        private_url(fake_bybit.ws_url), ["order"], api_key=api_key, api_secret=secret, settings=FAST
    )
    async with stream:
        with pytest.raises(BybitStreamAuthError) as refused:
            await asyncio.wait_for(stream.wait_ready(), WAIT)
        assert reason in str(refused.value)
        assert "login refused" in str(refused.value)
        assert secret not in str(refused.value)
        assert secret not in repr(stream)
        with pytest.raises(BybitStreamAuthError):  # the iteration ends with the same error
            await stream.next()
    # Refused once, never retried: a wrong key only gets an IP banned.
    assert fake_bybit.streams.connects["/v5/private"] == 1


async def test_closing_ends_the_iteration_and_the_connection(fake_bybit: FakeBybit) -> None:
    stream = BybitStream(public_url(fake_bybit.ws_url, "linear"), [ticker_topic("BTCUSDT")], settings=FAST)
    await asyncio.wait_for(stream.wait_ready(), WAIT)
    await stream.close()
    items = [item async for item in stream]
    assert all(not isinstance(item, Disconnected) for item in items)
    await eventually(lambda: fake_bybit.streams.subscriptions() == [])


def test_backoff_grows_with_jitter_within_its_cap() -> None:
    backoff = Backoff(base=0.5, cap=8.0)
    rand = random.Random(3)
    delays = [[backoff.delay(attempt, rand) for _ in range(200)] for attempt in range(8)]
    for attempt, samples in enumerate(delays):
        ceiling = min(8.0, 0.5 * 2**attempt)
        assert all(ceiling / 2 <= delay <= ceiling for delay in samples)
        assert len({round(delay, 6) for delay in samples}) > 150  # jittered, not one fixed value


async def test_connection_budget_waits_when_the_window_is_full() -> None:
    budget = ConnectionBudget(limit=3, window=0.3)
    loop = asyncio.get_running_loop()
    began = loop.time()
    for _ in range(3):
        await budget.acquire()
    assert budget.used == 3
    assert budget.wait_time() > 0
    await budget.acquire()  # the fourth waits for the first to leave the window
    assert loop.time() - began >= 0.25
    assert budget.used <= 3 + 1


async def test_topics_added_while_connecting_are_sent_and_a_refused_one_dropped(
    fake_bybit: FakeBybit,
) -> None:
    stream = BybitStream(public_url(fake_bybit.ws_url, "linear"), [ticker_topic("BTCUSDT")], settings=FAST)
    async with stream:
        await stream.start()
        # Not connected yet: nothing is sent now, both go with the first connection's requests.
        await stream.subscribe(ticker_topic("ETHUSDT"), kline_topic("1", "NOSUCHUSDT"))
        await asyncio.wait_for(stream.wait_ready(), WAIT)
        assert stream.topics == (ticker_topic("BTCUSDT"), ticker_topic("ETHUSDT"))
        assert fake_bybit.streams.subscriptions() == [{"tickers.BTCUSDT", "tickers.ETHUSDT"}]
        assert stream.reconnects == 0


async def test_reconnect_warnings_back_off_with_the_attempts(
    closed_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    """Every attempt is a Disconnected item; only attempts 1, 2, 4, 8, ... are warnings."""
    settings = StreamSettings(connect_timeout=1.0, backoff=Backoff(base=0.001, cap=0.002, reset_after=10.0))
    caplog.set_level("DEBUG", logger="bybit_client.streams.connection")
    async with BybitStream(
        public_url(f"ws://127.0.0.1:{closed_port}", "linear"), [], settings=settings
    ) as stream:
        seen = 0
        async with asyncio.timeout(WAIT):
            async for item in stream:
                if isinstance(item, Disconnected):
                    seen += 1
                    if seen == 9:
                        break
    attempts = [
        record.__dict__["attempt"]
        for record in caplog.records
        if record.getMessage() == "bybit stream disconnected"
    ]
    warned = [
        record.__dict__["attempt"]
        for record in caplog.records
        if record.getMessage() == "bybit stream disconnected" and record.levelname == "WARNING"
    ]
    assert attempts[:9] == list(range(1, 10))
    assert warned[:4] == [1, 2, 4, 8]
