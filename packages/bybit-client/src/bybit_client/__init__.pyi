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
    ExecType,
    InstrumentStatus,
    Interval,
    KlineCategory,
    MarketUnit,
    Network,
    OrderStatus,
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
    Execution,
    Instrument,
    InstrumentsPage,
    Kline,
    Klines,
    Order,
    OrderAck,
    Position,
    RateLimitStatus,
    ServerTime,
    Ticker,
    WalletBalance,
)
from .observe import (
    CallEvents,
    CallObserver,
)
from .orders import (
    CancelRequest,
    OrderRequest,
    check_order_link_id,
    new_order_link_id,
)
from .outcomes import (
    OrderOutcome,
    Outcome,
)
from .permissions import (
    FUNDS_GROUPS,
    ORDER_PERMISSIONS,
    funds_permissions,
    may_trade,
)
from .retry import (
    RetryPolicy,
)
from .rules import (
    InstrumentRules,
    Rule,
    RuleBreach,
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
    "FUNDS_GROUPS",
    "KLINE_CATEGORIES",
    "ORDER_PERMISSIONS",
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
    "CancelRequest",
    "Category",
    "CoinBalance",
    "ExecType",
    "Execution",
    "Hold",
    "Instrument",
    "InstrumentRules",
    "InstrumentStatus",
    "InstrumentsPage",
    "Interval",
    "Kline",
    "KlineCategory",
    "Klines",
    "LimitSeen",
    "LocalBudget",
    "MarketUnit",
    "Network",
    "Order",
    "OrderAck",
    "OrderBookGapError",
    "OrderOutcome",
    "OrderRequest",
    "OrderStatus",
    "OrderType",
    "Outcome",
    "Position",
    "RateLimitStatus",
    "RetryPolicy",
    "Rule",
    "RuleBreach",
    "ServerClock",
    "ServerTime",
    "Side",
    "Ticker",
    "TimeInForce",
    "WalletBalance",
    "build_query",
    "check_order_link_id",
    "datetime_to_ms",
    "funds_permissions",
    "may_trade",
    "ms_to_datetime",
    "new_order_link_id",
    "sign",
    "string_to_sign",
]
