"""A fake Bybit V5 exchange for tests and benchmarks (needs the ``testing`` extra: uvicorn).

``FakeBybit`` listens on a real TCP port and checks signatures, timestamps and recv_window as
Bybit does, trades (matching, positions, wallet, Bybit's refusals and per-account limits, its
retention windows on a fake clock), and serves its WebSocket streams (with faults) on a second
port. ``bybit_client.testing.plugin`` has the pytest fixture ``fake_bybit``, for suites that name
it in ``pytest_plugins``. README.md beside this file is the contract tests rely on.
"""

from bybit_client.testing.app import FakeBybitApp
from bybit_client.testing.data import candle, default_instruments
from bybit_client.testing.engine import PrivateEvent, TradingEngine
from bybit_client.testing.exchange import (
    FakeExchange,
    FakeKey,
    RateLimitMode,
    RateVerdict,
    RecordedRequest,
)
from bybit_client.testing.faults import Fault
from bybit_client.testing.limits import UidLimits
from bybit_client.testing.policies import fast_retry_policy
from bybit_client.testing.private_feed import PrivateFaults
from bybit_client.testing.refusals import FakeError
from bybit_client.testing.server import FakeBybit
from bybit_client.testing.streams import FakeConnection, FakeStreams, StreamFault

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
