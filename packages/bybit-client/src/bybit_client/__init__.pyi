"""The public names of this package, read by type checkers and by lazy_loader (loaded on first use)."""

from .async_client import (
    AsyncBybitClient,
)
from .budget import (
    AsyncCallBudget,
    AsyncLocalBudget,
    BudgetPolicy,
    CallBudget,
    Hold,
    LimitSeen,
    LocalBudget,
)
from .clock import (
    ServerClock,
)
from .enums import (
    KLINE_CATEGORIES,
    Category,
    Interval,
    KlineCategory,
    Network,
    OrderType,
    Side,
    TimeInForce,
)
from .errors import (
    BybitAuthError,
    BybitBudgetError,
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
from .models import (
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
from .observe import (
    CallEvents,
    CallObserver,
)
from .retry import (
    RetryPolicy,
)
from .signing import (
    build_query,
    sign,
    string_to_sign,
)
from .sync_client import (
    BybitClient,
)
from .times import (
    datetime_to_ms,
    ms_to_datetime,
)

__all__ = [
    "KLINE_CATEGORIES",
    "ApiKeyInfo",
    "AsyncBybitClient",
    "AsyncCallBudget",
    "AsyncLocalBudget",
    "BudgetPolicy",
    "BybitAuthError",
    "BybitBudgetError",
    "BybitClient",
    "BybitError",
    "BybitInvalidRequestError",
    "BybitRateLimitError",
    "BybitStreamAuthError",
    "BybitStreamError",
    "BybitSubscriptionError",
    "BybitTimeWindowError",
    "BybitTransientError",
    "CallBudget",
    "CallEvents",
    "CallObserver",
    "Category",
    "CoinBalance",
    "Hold",
    "Instrument",
    "InstrumentsPage",
    "Interval",
    "Kline",
    "KlineCategory",
    "Klines",
    "LimitSeen",
    "LocalBudget",
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
