"""A fake Bybit V5 server for tests and benchmarks (needs the ``testing`` extra: uvicorn).

``FakeBybit`` listens on a real TCP port and checks signatures, timestamps and recv_window as
Bybit does, and serves its WebSocket streams (with faults) on a second port.
``bybit_client.testing.plugin`` has the pytest fixture ``fake_bybit``, for suites that name it in
``pytest_plugins``.
"""

from bybit_client.testing.app import FakeBybitApp
from bybit_client.testing.data import candle, default_instruments
from bybit_client.testing.exchange import (
    FakeExchange,
    FakeKey,
    Fault,
    RateLimitMode,
    RateVerdict,
    RecordedRequest,
)
from bybit_client.testing.policies import fast_retry_policy
from bybit_client.testing.server import FakeBybit
from bybit_client.testing.streams import FakeConnection, FakeStreams, StreamFault

__all__ = [
    "FakeBybit",
    "FakeBybitApp",
    "FakeConnection",
    "FakeExchange",
    "FakeKey",
    "FakeStreams",
    "Fault",
    "RateLimitMode",
    "RateVerdict",
    "RecordedRequest",
    "StreamFault",
    "candle",
    "default_instruments",
    "fast_retry_policy",
]
