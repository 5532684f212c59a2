"""The fake exchange's accounts: orders, fills, one-way positions and the unified wallet, and the
money arithmetic that moves them.

Derivatives (linear) hold one one-way position per symbol: a fill in its direction grows it at the
size-weighted average price, a fill against it closes at that average and realises the profit or
loss, a larger one closes it and opens the rest the other way. Fees come off the settle coin's
balance and count in the realised PnL (as Bybit's ``cumRealisedPnl`` does). Initial margin is the
value over the leverage: positions at their average price, open orders at their price for the
part that would open or grow a position. Spot moves coins: a buy spends quote and receives base
less the fee (charged in base), a sell the other way round (fee in quote); open spot orders lock
what they would spend.
"""

from collections import deque
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal

from bybit_client.enums import Category, MarketUnit, OrderStatus, OrderType, Side, TimeInForce

ZERO = Decimal(0)
PRICE_PLACES = Decimal("1e-10")  # averages are quotients: kept to 10 places
MONEY_PLACES = Decimal("1e-10")  # fees, PnL and margins likewise
DEFAULT_LEVERAGE = Decimal(10)
REALTIME_CLOSED_KEPT = 500  # closed orders the realtime query keeps per account and category


def money(value: Decimal) -> Decimal:
    return value.quantize(MONEY_PLACES, rounding=ROUND_HALF_EVEN)


@dataclass(eq=False)
class FakeOrder:
    """One order of one account, as the matching engine keeps it."""

    user_id: int
    category: Category
    symbol: str
    settle_coin: str  # derivatives: the margin coin; spot: the quote coin
    base_coin: str
    order_id: str
    order_link_id: str
    side: Side
    order_type: OrderType
    price: Decimal | None
    qty: Decimal
    time_in_force: TimeInForce
    market_unit: MarketUnit | None
    reduce_only: bool
    created_ms: int
    updated_ms: int
    status: OrderStatus = OrderStatus.NEW
    cum_exec_qty: Decimal = ZERO
    cum_exec_value: Decimal = ZERO
    cum_exec_fee: Decimal = ZERO
    cancel_type: str = "UNKNOWN"
    reject_reason: str = "EC_NoError"
    held: Decimal = ZERO  # margin (derivatives) or coin (spot) the open order holds

    @property
    def quote_unit(self) -> bool:
        """A spot market buy counted in the quote coin (``qty`` is an amount to spend)."""
        return self.market_unit is MarketUnit.QUOTE_COIN

    @property
    def leaves_qty(self) -> Decimal:
        if self.status.is_final or self.quote_unit:
            return ZERO
        return self.qty - self.cum_exec_qty

    @property
    def avg_price(self) -> Decimal | None:
        if not self.cum_exec_qty:
            return None
        return (self.cum_exec_value / self.cum_exec_qty).quantize(PRICE_PLACES, rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True)
class Fill:
    """One execution, with the order's figures at that moment (as Bybit reports them)."""

    user_id: int
    category: Category
    symbol: str
    exec_id: str
    order_id: str
    order_link_id: str
    side: Side
    order_type: OrderType
    order_price: Decimal | None
    order_qty: Decimal
    leaves_qty: Decimal
    price: Decimal
    qty: Decimal
    value: Decimal
    fee: Decimal
    fee_rate: Decimal
    fee_currency: str
    is_maker: bool
    closed_size: Decimal
    mark_price: Decimal
    seq: int
    exec_ms: int
    number: int  # the account's how-manieth execution: orders fills of one instant

    @property
    def sort_key(self) -> tuple[int, str]:
        """Newest first by this key (Bybit sorts by execTime; ties in the order they happened)."""
        return self.exec_ms, f"{self.number:012d}"


@dataclass(eq=False)
class FakePosition:
    """A one-way position of one derivatives symbol (``size`` is never negative; ``side`` None when
    flat)."""

    category: Category
    symbol: str
    settle_coin: str
    created_ms: int
    updated_ms: int
    size: Decimal = ZERO
    side: Side | None = None
    avg_price: Decimal = ZERO
    cum_realised: Decimal = ZERO
    cur_realised: Decimal = ZERO
    leverage: Decimal = DEFAULT_LEVERAGE
    seq: int = -1

    @property
    def signed_size(self) -> Decimal:
        return ZERO if self.side is None else self.size * self.side.sign

    def closable(self, side: Side) -> Decimal:
        """What a ``side`` order can close of this position (the rest of it opens or grows one)."""
        return self.size if self.side is not None and side is not self.side else ZERO

    def apply(self, side: Side, qty: Decimal, price: Decimal) -> tuple[Decimal, Decimal]:
        """Move the position by a fill; returns (the size it closed, the PnL it realised, fees aside)."""
        closing = min(qty, self.closable(side))
        pnl = ZERO
        if closing:
            assert self.side is not None
            pnl = money((price - self.avg_price) * closing * self.side.sign)
            self.size -= closing
            if not self.size:
                self.side, self.avg_price, self.cur_realised = None, ZERO, ZERO
        opening = qty - closing
        if opening:
            grown = self.size + opening
            self.avg_price = ((self.avg_price * self.size + price * opening) / grown).quantize(
                PRICE_PLACES, rounding=ROUND_HALF_EVEN
            )
            self.size, self.side = grown, side
        return closing, pnl

    def unrealised(self, mark: Decimal) -> Decimal:
        return ZERO if self.side is None else money((mark - self.avg_price) * self.size * self.side.sign)

    def initial_margin(self) -> Decimal:
        return money(self.size * self.avg_price / self.leverage)


@dataclass(eq=False)
class Account:
    """One Bybit account (a UID): its wallet, positions, orders and executions."""

    user_id: int
    balances: dict[str, Decimal]
    cum_realised: dict[str, Decimal] = field(default_factory=dict)
    held: dict[str, Decimal] = field(default_factory=dict)  # per coin: spot locks, order margin
    positions: dict[tuple[Category, str], FakePosition] = field(default_factory=dict)
    orders: dict[str, FakeOrder] = field(default_factory=dict)
    link_ids: dict[tuple[Category, str], str] = field(default_factory=dict)
    open_orders: dict[str, FakeOrder] = field(default_factory=dict)
    recent_closed: dict[Category, deque[str]] = field(default_factory=dict)
    executions: list[Fill] = field(default_factory=list)
    seq: int = 0  # Bybit's cross sequence: one step per action that filled
    pushed_ms: int = 0  # creationTime of the last private push

    def balance(self, coin: str) -> Decimal:
        return self.balances.get(coin, ZERO)

    def add(self, coin: str, amount: Decimal) -> None:
        self.balances[coin] = self.balance(coin) + amount

    def hold(self, coin: str, amount: Decimal) -> None:
        self.held[coin] = self.held.get(coin, ZERO) + amount

    def closed(self, order: FakeOrder) -> None:
        """``order`` reached a final status: off the open list, into the realtime query's memory."""
        self.open_orders.pop(order.order_id, None)
        kept = self.recent_closed.setdefault(order.category, deque(maxlen=REALTIME_CLOSED_KEPT))
        kept.append(order.order_id)

    def position(self, category: Category, symbol: str, settle_coin: str, now_ms: int) -> FakePosition:
        key = (category, symbol)
        position = self.positions.get(key)
        if position is None:
            position = self.positions[key] = FakePosition(category, symbol, settle_coin, now_ms, now_ms)
        return position

    def next_push_ms(self, now_ms: int) -> int:
        """A creationTime later than the last push's: pushes of one account can always be ordered."""
        self.pushed_ms = max(now_ms, self.pushed_ms + 1)
        return self.pushed_ms
