"""The public names of this package, read by type checkers and by lazy_loader (loaded on first use)."""

from .app import (
    FakeBybitApp,
)
from .data import (
    candle,
    default_instruments,
)
from .engine import (
    PrivateEvent,
    TradingEngine,
)
from .exchange import (
    FakeExchange,
    FakeKey,
    RateLimitMode,
    RateVerdict,
    RecordedRequest,
)
from .faults import (
    Fault,
)
from .limits import (
    UidLimits,
)
from .policies import (
    fast_retry_policy,
)
from .private_feed import (
    PrivateFaults,
)
from .refusals import (
    FakeError,
)
from .server import (
    FakeBybit,
)
from .streams import (
    FakeConnection,
    FakeStreams,
    StreamFault,
)

__all__ = [
    "FakeBybit",
    "FakeBybitApp",
    "FakeConnection",
    "FakeError",
    "FakeExchange",
    "FakeKey",
    "FakeStreams",
    "Fault",
    "PrivateEvent",
    "PrivateFaults",
    "RateLimitMode",
    "RateVerdict",
    "RecordedRequest",
    "StreamFault",
    "TradingEngine",
    "UidLimits",
    "candle",
    "default_instruments",
    "fast_retry_policy",
]
