"""The fake exchange's state and controls: keys, instruments, orders, injected faults, counters."""

import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bybit_client.enums import Network
from bybit_client.testing.data import default_instruments

DEFAULT_BALANCES = {"USDT": "10000", "BTC": "0.5"}
TRADE_PERMISSIONS: dict[str, list[str]] = {
    "ContractTrade": ["Order", "Position"],
    "Spot": ["SpotTrade"],
    "Wallet": ["AccountTransfer", "SubMemberTransfer"],
    "Options": ["OptionsTrade"],
    "Derivatives": ["DerivativesTrade"],
    "CopyTrading": [],
    "BlockTrade": [],
    "Exchange": [],
    "NFT": [],
    "Affiliate": [],
}


class Fault(StrEnum):
    """What ``fail_next`` makes the next matching requests do."""

    CLOCK_SKEW = "clock_skew"  # retCode 10002
    RATE_LIMIT_RESET_PAST = "rate_limit_reset_past"  # retCode 10006, reset header already past
    RATE_LIMIT_RESET_FUTURE = "rate_limit_reset_future"  # retCode 10006, reset header ahead
    HTTP_403 = "http_403"  # IP rate limit breached ("access too frequent")
    HTTP_429 = "http_429"  # system protection
    HTTP_5XX = "http_5xx"  # 502 from the gateway, request not processed
    SERVER_TIMEOUT = "server_timeout"  # retCode 10000
    SLOW = "slow"  # answer after ``slow_seconds`` (past a client's timeout), then processed
    MALFORMED_JSON = "malformed_json"


@dataclass
class FakeKey:
    api_key: str
    secret: str = field(repr=False)
    read_only: bool = False
    permissions: dict[str, list[str]] = field(default_factory=lambda: dict(TRADE_PERMISSIONS))
    network: Network = Network.MAINNET
    balances: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_BALANCES))
    expired_at: str = ""
    user_id: int = 100_001


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: str
    body: bytes
    api_key: str | None
    at_ms: int = 0  # when it arrived, on the exchange's clock


@dataclass(frozen=True)
class RateLimitMode:
    """Bybit's limits as the fake plays them (``FakeExchange.limit_rate``): ``limit`` requests per
    endpoint per fixed window of ``window_ms``, announced on every answer; past it retCode 10006;
    ``ban_after`` refusals in one window and the address is banned for ``ban_seconds`` (HTTP 403)."""

    limit: int
    window_ms: int = 1000
    ban_after: int = 10
    ban_seconds: float = 2.0


@dataclass(frozen=True)
class RateVerdict:
    """What the rate-limit mode says of one request: ``allowed``, ``refused`` (10006) or ``banned``."""

    outcome: str
    limit: int = 0
    remaining: int = 0
    reset_ms: int = 0


class FakeExchange:
    """Everything the fake V5 server knows; tests change it directly between requests."""

    def __init__(self, network: Network = Network.MAINNET) -> None:
        self._lock = threading.Lock()
        self._initial_network = network
        # Told of every order created or cancelled through REST (the private stream pushes it).
        self.on_order: Callable[[str, dict[str, Any]], None] | None = None
        self.reset()

    def reset(self) -> None:
        """Back to a fresh exchange: its own network, no keys, default instruments, no faults, no delay,
        zero counters."""
        with self._lock:
            self.network = self._initial_network
            self.keys: dict[str, FakeKey] = {}
            self.instruments: dict[str, list[dict[str, Any]]] = default_instruments()
            self.orders: dict[str, dict[str, dict[str, Any]]] = {}
            self.faults: deque[tuple[Fault, str | None]] = deque()
            self.counts: Counter[str] = Counter()
            self.requests: deque[RecordedRequest] = deque(maxlen=10_000)
            self.delay_seconds = 0.0
            self.slow_seconds = 2.0
            self.clock_offset_ms = 0
            self.rate_limit_reset_ms = 100
            self.rate_limit = 50
            self.rate_mode: RateLimitMode | None = None
            self._window_counts: Counter[tuple[str, int]] = Counter()
            self._refused_in_window: Counter[int] = Counter()
            self.banned_until_ms = 0
            self.violations = 0  # requests past an announced limit (answered 10006) or while banned
            self.banned_answers = 0  # HTTP 403 "access too frequent" answered

    # -- controls -------------------------------------------------------------------------------

    def add_key(
        self,
        api_key: str,
        secret: str,
        *,
        read_only: bool = False,
        permissions: dict[str, list[str]] | None = None,
        network: Network | str | None = None,
        balances: dict[str, str] | None = None,
        expired_at: str = "",
    ) -> FakeKey:
        """Register a key Bybit would accept (on ``network``, default the server's own)."""
        key = FakeKey(
            api_key,
            secret,
            read_only=read_only,
            permissions=dict(TRADE_PERMISSIONS) if permissions is None else permissions,
            network=Network(network or self.network),
            balances=dict(DEFAULT_BALANCES) if balances is None else balances,
            expired_at=expired_at,
            user_id=100_001 + len(self.keys),
        )
        with self._lock:
            self.keys[api_key] = key
        return key

    def set_instruments(self, category: str, rows: list[dict[str, Any]]) -> None:
        """Replace the instruments served for ``category`` (Bybit's raw rows)."""
        with self._lock:
            self.instruments[category] = list(rows)

    def fail_next(self, n: int, kind: Fault | str, *, path: str | None = None) -> None:
        """Make the next ``n`` requests (to ``path`` only, if given) fail as ``kind``."""
        with self._lock:
            self.faults.extend([(Fault(kind), path)] * n)

    def limit_rate(
        self, limit: int, *, window_ms: int = 1000, ban_after: int = 10, ban_seconds: float = 2.0
    ) -> RateLimitMode:
        """Play Bybit's rate limits from now on (see ``RateLimitMode``); ``reset()`` ends it."""
        mode = RateLimitMode(limit, window_ms, ban_after, ban_seconds)
        with self._lock:
            self.rate_mode = mode
            self._window_counts.clear()
            self._refused_in_window.clear()
        return mode

    def ban(self, seconds: float) -> None:
        """Ban the address now, as Bybit does a caller that kept going: HTTP 403 for ``seconds``."""
        with self._lock:
            self.banned_until_ms = self.now_ms() + round(seconds * 1000)

    @property
    def banned(self) -> bool:
        return self.now_ms() < self.banned_until_ms

    def count(self, path: str | None = None) -> int:
        """Requests received, to ``path`` or in all."""
        return self.counts[path] if path else sum(self.counts.values())

    def sent(self, path: str) -> list[RecordedRequest]:
        """The recorded requests to ``path``, oldest first."""
        return [request for request in self.requests if request.path == path]

    # -- used by the app --------------------------------------------------------------------------

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000 + self.clock_offset_ms

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.counts[request.path] += 1
            self.requests.append(request)

    def rate_verdict(self, path: str) -> RateVerdict | None:
        """Count a request to ``path`` against the rate-limit mode (None when it is off)."""
        mode = self.rate_mode
        now = self.now_ms()
        with self._lock:
            if now < self.banned_until_ms:
                self.violations += 1
                self.banned_answers += 1
                return RateVerdict("banned")
            if mode is None:
                return None
            window = now // mode.window_ms
            reset_ms = (window + 1) * mode.window_ms
            self._window_counts[(path, window)] += 1
            used = self._window_counts[(path, window)]
            if used <= mode.limit:
                return RateVerdict("allowed", mode.limit, mode.limit - used, reset_ms)
            self.violations += 1
            self._refused_in_window[window] += 1
            if self._refused_in_window[window] > mode.ban_after:
                self.banned_until_ms = now + round(mode.ban_seconds * 1000)
                self.banned_answers += 1
                return RateVerdict("banned")
            return RateVerdict("refused", mode.limit, 0, reset_ms)

    def take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for index, (kind, only) in enumerate(self.faults):
                if only is None or only == path:
                    del self.faults[index]
                    return kind
        return None
