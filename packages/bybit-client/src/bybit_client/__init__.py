"""A typed Bybit V5 REST client: signed, sync and async, with retries.

``BybitClient`` and ``AsyncBybitClient`` share one core; ``bybit_client.testing`` holds a fake V5
server and a pytest plugin for tests that talk to "Bybit".
"""

from bybit_client.async_client import AsyncBybitClient
from bybit_client.clock import ServerClock
from bybit_client.enums import Category, Interval, OrderType, Side, TimeInForce
from bybit_client.errors import (
    BybitAuthError,
    BybitError,
    BybitInvalidRequestError,
    BybitRateLimitError,
    BybitTimeWindowError,
    BybitTransientError,
)
from bybit_client.models import (
    ApiKeyInfo,
    CoinBalance,
    Instrument,
    InstrumentsPage,
    Kline,
    Klines,
    Order,
    OrderAck,
    RateLimitStatus,
    ServerTime,
    Ticker,
    WalletBalance,
)
from bybit_client.observe import CallEvents, CallObserver
from bybit_client.retry import RetryPolicy
from bybit_client.signing import build_query, sign, string_to_sign
from bybit_client.sync_client import BybitClient

__all__ = [
    "ApiKeyInfo",
    "AsyncBybitClient",
    "BybitAuthError",
    "BybitClient",
    "BybitError",
    "BybitInvalidRequestError",
    "BybitRateLimitError",
    "BybitTimeWindowError",
    "BybitTransientError",
    "CallEvents",
    "CallObserver",
    "Category",
    "CoinBalance",
    "Instrument",
    "InstrumentsPage",
    "Interval",
    "Kline",
    "Klines",
    "Order",
    "OrderAck",
    "OrderType",
    "RateLimitStatus",
    "RetryPolicy",
    "ServerClock",
    "ServerTime",
    "Side",
    "Ticker",
    "TimeInForce",
    "WalletBalance",
    "build_query",
    "sign",
    "string_to_sign",
]
