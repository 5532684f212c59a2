"""Bybit V5 WebSocket streams on asyncio (aiohttp's client): public market data and the private stream.

    async with BybitStream(public_url(base, "linear"), [kline_topic("1", "BTCUSDT")]) as stream:
        async for item in stream:
            if isinstance(item, KlineMessage): ...
            elif isinstance(item, Connected) and item.reconnects: ...  # backfill what was missed

Connections are supervised (ping, silence watchdog, jittered backoff within Bybit's per-IP
connection budget, subscriptions restored, typed errors); order books are kept locally and
resynchronised on any gap in their update ids.
"""

from bybit_client.models import Execution, Order, Position, WalletBalance
from bybit_client.streams.backoff import DEFAULT_BUDGET, Backoff, ConnectionBudget
from bybit_client.streams.connection import BybitStream, StreamItem, StreamSettings, StreamStatus, TopicHealth
from bybit_client.streams.messages import (
    Connected,
    Disconnected,
    ExecutionMessage,
    KlineMessage,
    OrderBookMessage,
    OrderBookResync,
    OrderMessage,
    PositionMessage,
    PublicTrade,
    RawMessage,
    StreamCandle,
    StreamEvent,
    StreamMessage,
    TickerMessage,
    TickerUpdate,
    TradeMessage,
    WalletMessage,
    parse_message,
)
from bybit_client.streams.orderbook import OrderBook
from bybit_client.streams.topics import (
    MAX_ARGS_PER_REQUEST,
    PRIVATE_PATH,
    PRIVATE_TOPICS,
    kline_topic,
    orderbook_topic,
    private_url,
    public_path,
    public_url,
    ticker_topic,
    topic_kind,
    trade_topic,
)

__all__ = [
    "DEFAULT_BUDGET",
    "MAX_ARGS_PER_REQUEST",
    "PRIVATE_PATH",
    "PRIVATE_TOPICS",
    "Backoff",
    "BybitStream",
    "Connected",
    "ConnectionBudget",
    "Disconnected",
    "Execution",
    "ExecutionMessage",
    "KlineMessage",
    "Order",
    "OrderBook",
    "OrderBookMessage",
    "OrderBookResync",
    "OrderMessage",
    "Position",
    "PositionMessage",
    "PublicTrade",
    "RawMessage",
    "StreamCandle",
    "StreamEvent",
    "StreamItem",
    "StreamMessage",
    "StreamSettings",
    "StreamStatus",
    "TickerMessage",
    "TickerUpdate",
    "TopicHealth",
    "TradeMessage",
    "WalletBalance",
    "WalletMessage",
    "kline_topic",
    "orderbook_topic",
    "parse_message",
    "private_url",
    "public_path",
    "public_url",
    "ticker_topic",
    "topic_kind",
    "trade_topic",
]
