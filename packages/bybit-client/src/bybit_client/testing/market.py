"""One symbol's market in the fake exchange: its price, a book built from that price, the orders
resting on it.

The book is synthetic and never used up: ``levels`` price levels each side, one tick apart from the
best bid (last price less a tick) and the best ask (last price plus a tick), each holding
``level_qty``. A taker order walks it level by level, so a large one fills in several executions at
worse and worse prices. Resting limit orders (of every account) do not trade with each other: they
fill against the market when its price crosses them, ``level_qty`` per ``tick`` at their own price,
so a big order fills partially, over time.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_HALF_UP, Decimal

from bybit_client.enums import Side
from bybit_client.rules import InstrumentRules
from bybit_client.testing.accounts import ZERO, FakeOrder

BOOK_LEVELS = 25
LEVEL_VALUE_MIN_NOTIONALS = 50  # a level holds 50 minimum orders' worth (or 5 minimum quantities)


def on_step(value: Decimal, step: Decimal, rounding: str = ROUND_HALF_UP) -> Decimal:
    """``value`` rounded to a multiple of ``step``."""
    return (value / step).quantize(Decimal(1), rounding=rounding) * step


@dataclass(eq=False)
class Market:
    rules: InstrumentRules
    last_price: Decimal
    level_qty: Decimal
    levels: int = BOOK_LEVELS
    resting: dict[str, FakeOrder] = field(default_factory=dict)

    @classmethod
    def opening(cls, rules: InstrumentRules, reference_price: Decimal) -> "Market":
        """A market at ``reference_price`` (rounded to the tick), with levels of a sensible size."""
        price = max(on_step(reference_price, rules.tick_size), rules.tick_size * 10)
        target = (rules.min_notional or ZERO) * LEVEL_VALUE_MIN_NOTIONALS / price
        level = max(rules.min_qty * 5, on_step(target, rules.qty_step, ROUND_CEILING))
        return cls(rules, price, level)

    @property
    def best_bid(self) -> Decimal:
        return self.last_price - self.rules.tick_size

    @property
    def best_ask(self) -> Decimal:
        return self.last_price + self.rules.tick_size

    def levels_against(self, side: Side) -> Iterator[Decimal]:
        """The prices a ``side`` taker order meets, best first (the asks for a buy)."""
        tick = self.rules.tick_size
        best = self.best_ask if side is Side.BUY else self.best_bid
        for level in range(self.levels):
            price = best + tick * level if side is Side.BUY else best - tick * level
            if price <= ZERO:
                return
            yield price

    def take(self, side: Side, qty: Decimal, limit: Decimal | None) -> list[tuple[Decimal, Decimal]]:
        """The (price, qty) fills of a ``side`` taker order of ``qty`` up to price ``limit``."""
        fills = []
        left = qty
        for price in self.levels_against(side):
            if not left or (limit is not None and (price > limit if side is Side.BUY else price < limit)):
                break
            size = min(left, self.level_qty)
            fills.append((price, size))
            left -= size
        return fills

    def take_value(self, amount: Decimal, qty_step: Decimal) -> list[tuple[Decimal, Decimal]]:
        """The fills of a buy spending ``amount`` of the quote coin (quantities on ``qty_step``)."""
        fills = []
        left = amount
        for price in self.levels_against(Side.BUY):
            size = min(self.level_qty, on_step(left / price, qty_step, ROUND_DOWN))
            if size <= ZERO:
                break
            fills.append((price, size))
            left -= price * size
        return fills

    def marketable(self, side: Side, price: Decimal) -> bool:
        """Whether a ``side`` limit order at ``price`` would take liquidity now."""
        return price >= self.best_ask if side is Side.BUY else price <= self.best_bid

    def crossed(self) -> list[FakeOrder]:
        """The resting orders the market's price has reached, in the order they were placed."""
        return [
            order
            for order in self.resting.values()
            if order.price is not None and self.marketable(order.side, order.price)
        ]
