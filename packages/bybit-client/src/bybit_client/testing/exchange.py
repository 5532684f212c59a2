"""The fake exchange's state and controls: keys, instruments, the trading engine, its clock, injected
faults, rate limits and counters.

Tests steer it directly (from any thread) between and during requests: prices, fills and orders
placed "elsewhere" through the trading controls, time through the clock, failures through the
faults. ``seed`` makes every id, fill and fault draw repeat from run to run.
"""

import random
import threading
import time
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from bybit_client.enums import Category, Network
from bybit_client.orders import OrderRequest
from bybit_client.testing.data import default_instruments
from bybit_client.testing.engine import TradingEngine
from bybit_client.testing.faults import Fault, FaultPlan
from bybit_client.testing.limits import UidLimits
from bybit_client.testing.shapes import execution_view, order_view, position_view

DEFAULT_BALANCES = {"USDT": "10000", "BTC": "0.5"}
# A key made for trading and nothing more: no Wallet permission (withdrawals, transfers).
TRADE_PERMISSIONS: dict[str, list[str]] = {
    "ContractTrade": ["Order", "Position"],
    "Spot": ["SpotTrade"],
    "Wallet": [],
    "Options": ["OptionsTrade"],
    "Derivatives": ["DerivativesTrade"],
    "CopyTrading": [],
    "BlockTrade": [],
    "Exchange": [],
    "NFT": [],
    "Affiliate": [],
}


@dataclass
class FakeKey:
    api_key: str
    secret: str = field(repr=False)
    read_only: bool = False
    permissions: dict[str, list[str]] = field(default_factory=lambda: dict(TRADE_PERMISSIONS))
    network: Network = Network.MAINNET
    balances: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_BALANCES))
    expired_at: str = ""
    user_id: int = 100_001  # the account (UID): keys of one account share its orders and limits
    ips: list[str] = field(default_factory=lambda: ["*"])  # as query-api lists them; "*": any address


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

    def __init__(self, network: Network = Network.MAINNET, *, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._initial_network = network
        self.seed = seed
        self.reset()

    def reset(self) -> None:
        """Back to a fresh exchange: its own network and seed, no keys, default instruments, no orders,
        the real clock, no faults, no delay, zero counters."""
        with self._lock:
            self.network = self._initial_network
            self.keys: dict[str, FakeKey] = {}
            self.instruments: dict[str, list[dict[str, Any]]] = default_instruments()
            self.faults = FaultPlan(self.seed)
            self.counts: Counter[str] = Counter()
            self.requests: deque[RecordedRequest] = deque(maxlen=10_000)
            self.delay_seconds = 0.0
            self.slow_seconds = 2.0
            self.clock_offset_ms = 0
            self.frozen_at_ms: int | None = None
            self.rate_limit_reset_ms = 100
            self.rate_limit = 50
            self.rate_mode: RateLimitMode | None = None
            self._window_counts: Counter[tuple[str, int]] = Counter()
            self._refused_in_window: Counter[int] = Counter()
            self.banned_until_ms = 0
            self.violations = 0  # requests past an announced limit (answered 10006) or while banned
            self.banned_answers = 0  # HTTP 403 "access too frequent" answered
            self.uid_limits = UidLimits()
            self.market_tick_seconds = 0.0  # > 0: prices walk on their own (see server.keep_markets_moving)
            self.walk_ticks = 3
            rng = random.Random(self.seed)  # noqa: S311 - ids and fills of a fake, not secrets
            if getattr(self, "engine", None) is None:
                self.engine = TradingEngine(lambda: self.instruments, self.now_ms, rng)
            else:
                self.engine.reset(rng)

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
        user_id: int | None = None,
        ips: list[str] | None = None,
    ) -> FakeKey:
        """Register a key Bybit would accept (on ``network``, default the server's own), of a new
        account holding ``balances``, or of the existing account ``user_id``; ``ips`` is the binding
        query-api reports (default ``["*"]``, no binding)."""
        with self._lock:
            account_id = user_id if user_id is not None else 100_001 + len(self.keys)
            key = FakeKey(
                api_key,
                secret,
                read_only=read_only,
                permissions=dict(TRADE_PERMISSIONS) if permissions is None else permissions,
                network=Network(network or self.network),
                balances=dict(DEFAULT_BALANCES) if balances is None else balances,
                expired_at=expired_at,
                user_id=account_id,
                ips=["*"] if ips is None else list(ips),
            )
            self.keys[api_key] = key
        self.engine.open_account(key.user_id, key.balances)
        return key

    def set_instruments(self, category: str, rows: list[dict[str, Any]]) -> None:
        """Replace the instruments served for ``category`` (Bybit's raw rows)."""
        with self._lock:
            self.instruments[category] = list(rows)
        self.engine.forget_instruments(category)

    def fail_next(
        self, n: int, kind: Fault | str, *, path: str | None = None, api_key: str | None = None
    ) -> None:
        """Make the next ``n`` requests (to ``path``, of ``api_key``: any when None) fail as ``kind``."""
        self.faults.fail_next(n, kind, path, api_key)

    def set_fault_rates(
        self, rates: Mapping[Fault | str, float], *, path: str | None = None, api_key: str | None = None
    ) -> None:
        """From now on fail a share of the requests (to ``path``, of ``api_key``) as each kind, e.g.
        ``{Fault.LOST_ANSWER: 0.3, Fault.TIMEOUT_BEFORE: 0.1}``; drawn from the seed. ``{}`` ends it."""
        self.faults.set_rates(rates, path, api_key)

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
            self.banned_until_ms = self.wall_ms() + round(seconds * 1000)

    @property
    def banned(self) -> bool:
        return self.wall_ms() < self.banned_until_ms

    def count(self, path: str | None = None) -> int:
        """Requests received, to ``path`` or in all."""
        return self.counts[path] if path else sum(self.counts.values())

    def sent(self, path: str) -> list[RecordedRequest]:
        """The recorded requests to ``path``, oldest first."""
        return [request for request in self.requests if request.path == path]

    # -- the clock --------------------------------------------------------------------------------

    def freeze_clock(self, at_ms: int | None = None) -> None:
        """Stop the clock the exchange's data is stamped with (orders, fills, candles, pushes) at
        ``at_ms`` (now when None): it then moves only by ``advance_clock``, so a run's stamps repeat.
        Signatures, server time and rate limits keep the running clock (``wall_ms``), as a client
        needs: it has only to learn the offset."""
        self.frozen_at_ms = (self.wall_ms() - self.clock_offset_ms) if at_ms is None else at_ms

    def advance_clock(self, ms: int) -> None:
        """Move the exchange's clock forward by ``ms`` (frozen or not). Signed requests then carry
        timestamps from the past: a client learns the offset again (``sync_time``, or on 10002)."""
        self.clock_offset_ms += ms

    # -- trading ------------------------------------------------------------------------------------

    def user_of(self, api_key: str) -> int:
        return self.keys[api_key].user_id

    def place_order(
        self, api_key: str, category: Category | str, order: OrderRequest, *, anonymous: bool = False
    ) -> dict[str, Any]:
        """Place an order for the key's account directly, as if from Bybit's web site or app (an order
        "placed elsewhere": no request, no rate limit, no fault; ``anonymous``: without an
        orderLinkId). Bybit's refusals raise ``FakeError``. Returns the order as
        ``/v5/order/realtime`` shows it."""
        placed = self.engine.place(self.user_of(api_key), Category(category), order, anonymous=anonymous)
        return order_view(placed, with_category=False)

    def set_price(
        self, symbol: str, price: Decimal | str, *, category: Category | str = Category.LINEAR
    ) -> None:
        """Move a symbol's last price (a multiple of its tick); resting orders it reaches fill by one
        book level's quantity each (``tick`` fills more)."""
        self.engine.set_price(Category(category), symbol, Decimal(price))

    def price(self, symbol: str, *, category: Category | str = Category.LINEAR) -> Decimal:
        """A symbol's last price (its market opens at the ticker's price on first use)."""
        return self.engine.market(Category(category), symbol).last_price

    def set_liquidity(
        self, symbol: str, level_qty: Decimal | str, *, category: Category | str = Category.LINEAR
    ) -> None:
        """The quantity each level of a symbol's book holds (and a resting order fills per tick)."""
        self.engine.set_liquidity(Category(category), symbol, Decimal(level_qty))

    def tick(self, symbol: str | None = None, *, category: Category | str | None = None) -> None:
        """One round of fills: each resting order the price has reached fills by one level's quantity."""
        self.engine.tick(None if category is None else Category(category), symbol)

    def fill(
        self,
        api_key: str,
        *,
        order_id: str | None = None,
        order_link_id: str | None = None,
        qty: Decimal | str | None = None,
        category: Category | str = Category.LINEAR,
    ) -> dict[str, Any]:
        """Fill a resting order of the key's account at its price, ``qty`` of it or all that is left."""
        order = self.engine.fill(
            self.user_of(api_key),
            Category(category),
            order_id,
            order_link_id,
            None if qty is None else Decimal(qty),
        )
        return order_view(order, with_category=False)

    def order(
        self,
        api_key: str,
        *,
        order_id: str | None = None,
        order_link_id: str | None = None,
        category: Category | str = Category.LINEAR,
    ) -> dict[str, Any] | None:
        """An order of the key's account as it is now (whatever Bybit's queries would still show)."""
        found = self.engine.find(self.user_of(api_key), Category(category), order_id, order_link_id)
        return None if found is None else order_view(found, with_category=False)

    def orders(self, api_key: str) -> list[dict[str, Any]]:
        """Every order the key's account ever placed, oldest first (with their categories)."""
        account = self.engine.accounts[self.user_of(api_key)]
        return [order_view(order, with_category=True) for order in list(account.orders.values())]

    def executions(self, api_key: str) -> list[dict[str, Any]]:
        """Every execution of the key's account, oldest first (with their categories)."""
        account = self.engine.accounts[self.user_of(api_key)]
        return [execution_view(fill, with_category=True) for fill in list(account.executions)]

    def position(
        self, api_key: str, symbol: str, *, category: Category | str = Category.LINEAR
    ) -> dict[str, Any]:
        category = Category(category)
        (position,) = self.engine.positions(self.user_of(api_key), category, symbol, None)
        return position_view(position, self.price(symbol, category=category), with_category=False)

    def wallet(self, api_key: str) -> dict[str, Any]:
        """The key's unified account as ``/v5/account/wallet-balance`` shows it."""
        return self.engine.wallet(self.user_of(api_key), None)

    def forget_closed_orders(self) -> None:
        """What a Bybit restart does to the realtime query: its closed orders are gone (the history
        still has them)."""
        self.engine.forget_closed_orders()

    # -- used by the app --------------------------------------------------------------------------

    def now_ms(self) -> int:
        """The time the exchange's data is stamped with: real time (or the frozen instant) plus
        ``clock_offset_ms``."""
        if self.frozen_at_ms is None:
            return self.wall_ms()
        return self.frozen_at_ms + self.clock_offset_ms

    def wall_ms(self) -> int:
        """The exchange's running clock (real time plus ``clock_offset_ms``): what signatures are
        checked against, ``/v5/market/time`` says and rate-limit windows run on."""
        return time.time_ns() // 1_000_000 + self.clock_offset_ms

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.counts[request.path] += 1
            self.requests.append(request)

    def rate_verdict(self, path: str) -> RateVerdict | None:
        """Count a request to ``path`` against the rate-limit mode (None when it is off)."""
        mode = self.rate_mode
        now = self.wall_ms()
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

    def take_fault(self, path: str, api_key: str | None = None) -> Fault | None:
        return self.faults.take(path, api_key)
