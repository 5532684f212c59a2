"""A typed Bybit V5 REST client: signed, sync and async, with retries.

``BybitClient`` and ``AsyncBybitClient`` share one core; ``bybit_client.testing`` holds a fake V5
server and a pytest plugin for tests that talk to "Bybit"; ``bybit_client.streams`` holds the
WebSocket streams (asyncio).

Bybit's terms (``bybit_client.enums``) and the millisecond helpers (``bybit_client.times``) load
with the package; everything else loads on first use (PEP 562), so that a program which only needs
the terms, such as the settings, does not load the HTTP transports.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from bybit_client.enums import (
    KLINE_CATEGORIES,
    Category,
    Interval,
    KlineCategory,
    Network,
    OrderType,
    Side,
    TimeInForce,
)
from bybit_client.times import datetime_to_ms, ms_to_datetime

if TYPE_CHECKING:
    from bybit_client.async_client import AsyncBybitClient
    from bybit_client.clock import ServerClock
    from bybit_client.errors import (
        BybitAuthError,
        BybitError,
        BybitInvalidRequestError,
        BybitRateLimitError,
        BybitStreamAuthError,
        BybitStreamError,
        BybitSubscriptionError,
        BybitTimeWindowError,
        BybitTransientError,
        OrderBookGapError,
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

_LAZY: dict[str, str] = {
    "AsyncBybitClient": "async_client",
    "ServerClock": "clock",
    "BybitAuthError": "errors",
    "BybitError": "errors",
    "BybitInvalidRequestError": "errors",
    "BybitRateLimitError": "errors",
    "BybitStreamAuthError": "errors",
    "BybitStreamError": "errors",
    "BybitSubscriptionError": "errors",
    "OrderBookGapError": "errors",
    "BybitTimeWindowError": "errors",
    "BybitTransientError": "errors",
    "ApiKeyInfo": "models",
    "CoinBalance": "models",
    "Instrument": "models",
    "InstrumentsPage": "models",
    "Kline": "models",
    "Klines": "models",
    "Order": "models",
    "OrderAck": "models",
    "RateLimitStatus": "models",
    "ServerTime": "models",
    "Ticker": "models",
    "WalletBalance": "models",
    "CallEvents": "observe",
    "CallObserver": "observe",
    "RetryPolicy": "retry",
    "build_query": "signing",
    "sign": "signing",
    "string_to_sign": "signing",
    "BybitClient": "sync_client",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "KLINE_CATEGORIES",
    "ApiKeyInfo",
    "AsyncBybitClient",
    "BybitAuthError",
    "BybitClient",
    "BybitError",
    "BybitInvalidRequestError",
    "BybitRateLimitError",
    "BybitStreamAuthError",
    "BybitStreamError",
    "BybitSubscriptionError",
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
    "KlineCategory",
    "Klines",
    "Network",
    "Order",
    "OrderAck",
    "OrderBookGapError",
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
    "datetime_to_ms",
    "ms_to_datetime",
    "sign",
    "string_to_sign",
]
