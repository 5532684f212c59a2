"""An instrument's order rules and the one check of an order against them, with Bybit's answers.

``InstrumentRules`` holds what ``/v5/market/instruments-info`` says an order must respect: the
trading status, the tick size and price band, the quantity step and bounds, the minimum (and,
for spot, maximum) order value. ``check`` says which rule an order breaks, with the retCode and
message Bybit answers for it, or None. The fake exchange refuses orders through this very
check, so a caller that checks first and the fake can never disagree about what is refused.

The retCodes are Bybit's (``docs/v5/error.mdx``): derivatives answer parameter errors with 10001
and the rest with 110xxx; spot with 170xxx. Where Bybit's documents give a code but no text the
message here is ours.
"""

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from bybit_client.enums import Category, InstrumentStatus, MarketUnit, OrderType
from bybit_client.models import Instrument
from bybit_client.orders import OrderRequest


class Rule(StrEnum):
    """The rule an order breaks."""

    UNKNOWN_SYMBOL = "unknown_symbol"
    NOT_TRADING = "not_trading"
    PRICE_TICK = "price_tick"
    PRICE_TOO_LOW = "price_too_low"
    PRICE_TOO_HIGH = "price_too_high"
    QTY_TRUNCATED = "qty_truncated"  # less than one quantity step: nothing left after truncation
    QTY_STEP = "qty_step"
    QTY_MIN = "qty_min"
    QTY_MAX = "qty_max"
    NOTIONAL_MIN = "notional_min"
    NOTIONAL_MAX = "notional_max"


@dataclass(frozen=True, slots=True)
class RuleBreach:
    """Why an order is refused: the rule, and Bybit's retCode and message for it."""

    rule: Rule
    ret_code: int
    ret_msg: str


# What Bybit answers for each rule: derivatives (linear, inverse, option) and spot.
_CONTRACT_ANSWERS: dict[Rule, tuple[int, str]] = {
    Rule.UNKNOWN_SYMBOL: (10001, "params error: symbol invalid"),
    Rule.NOT_TRADING: (110074, "This contract is not live"),
    Rule.PRICE_TICK: (10001, "params error: price is not a multiple of tickSize"),
    Rule.PRICE_TOO_LOW: (110003, "Order price is out of permissible range"),
    Rule.PRICE_TOO_HIGH: (110003, "Order price is out of permissible range"),
    Rule.QTY_TRUNCATED: (110017, "orderQty will be truncated to zero"),
    Rule.QTY_STEP: (10001, "Qty invalid"),
    Rule.QTY_MIN: (10001, "The number of contracts exceeds minimum limit allowed"),
    Rule.QTY_MAX: (10001, "The number of contracts exceeds maximum limit allowed: too large"),
    Rule.NOTIONAL_MIN: (110094, "Order notional value below the lower limit"),
    Rule.NOTIONAL_MAX: (10001, "Order notional value above the upper limit"),
}
_SPOT_ANSWERS: dict[Rule, tuple[int, str]] = {
    Rule.UNKNOWN_SYMBOL: (170121, "Invalid symbol."),
    Rule.NOT_TRADING: (170151, "The trading pair is not open yet"),
    Rule.PRICE_TICK: (170134, "Order price decimal too long."),
    Rule.PRICE_TOO_LOW: (170133, "Order price lower than the minimum."),
    Rule.PRICE_TOO_HIGH: (170132, "Order price too high."),
    Rule.QTY_TRUNCATED: (170137, "Order volume decimal too long"),
    Rule.QTY_STEP: (170137, "Order volume decimal too long"),
    Rule.QTY_MIN: (170136, "Order quantity lower than the minimum."),
    Rule.QTY_MAX: (170381, "Order quantity too large."),
    Rule.NOTIONAL_MIN: (170140, "Order value exceeded lower limit"),
    Rule.NOTIONAL_MAX: (170124, "Order amount too large."),
}
# A spot market order counted in the quote coin breaks the amount's rules, which Bybit names so.
_SPOT_QUOTE_ANSWERS: dict[Rule, tuple[int, str]] = {
    **_SPOT_ANSWERS,
    Rule.QTY_TRUNCATED: (170148, "Market order amount decimal too long"),
    Rule.QTY_STEP: (170148, "Market order amount decimal too long"),
    Rule.QTY_MIN: (170140, "Order value exceeded lower limit"),
    Rule.QTY_MAX: (170124, "Order amount too large."),
}


def breach(category: Category | str, rule: Rule, *, quote_unit: bool = False) -> RuleBreach:
    """Bybit's answer to an order of ``category`` breaking ``rule``."""
    if Category(category) is Category.SPOT:
        code, message = (_SPOT_QUOTE_ANSWERS if quote_unit else _SPOT_ANSWERS)[rule]
    else:
        code, message = _CONTRACT_ANSWERS[rule]
    return RuleBreach(rule, code, message)


def unknown_symbol(category: Category | str) -> RuleBreach:
    """Bybit's answer to an order for a symbol it does not list in ``category``."""
    return breach(category, Rule.UNKNOWN_SYMBOL)


@dataclass(frozen=True)
class InstrumentRules:
    """What an order for one instrument must respect (from its ``instruments-info`` row).

    ``qty_step`` is the quantity step (spot: ``basePrecision``); ``quote_step`` the step of a spot
    market order counted in the quote coin (``quotePrecision``). ``min_notional`` is
    ``minNotionalValue`` (spot: ``minOrderAmt``), ``max_notional`` spot's ``maxOrderAmt``.
    """

    category: Category
    symbol: str
    status: str
    tick_size: Decimal
    qty_step: Decimal
    min_qty: Decimal
    max_qty: Decimal
    max_market_qty: Decimal | None = None
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    min_notional: Decimal | None = None
    max_notional: Decimal | None = None
    quote_step: Decimal | None = None

    @classmethod
    def from_instrument(cls, instrument: Instrument) -> "InstrumentRules":
        spot = instrument.category is Category.SPOT
        step = instrument.base_precision if spot else instrument.qty_step
        return cls(
            category=instrument.category,
            symbol=instrument.symbol,
            status=instrument.status,
            tick_size=instrument.tick_size,
            qty_step=step if step is not None else instrument.min_order_qty,
            min_qty=instrument.min_order_qty,
            max_qty=instrument.max_order_qty,
            max_market_qty=instrument.max_mkt_order_qty,
            min_price=instrument.min_price,
            max_price=instrument.max_price,
            min_notional=instrument.min_order_amt if spot else instrument.min_notional_value,
            max_notional=instrument.max_order_amt if spot else None,
            quote_step=instrument.quote_precision if spot else None,
        )

    @classmethod
    def from_raw(cls, category: Category | str, row: dict[str, Any]) -> "InstrumentRules":
        """The rules of one raw ``instruments-info`` row (as Bybit sends it, or as stored)."""
        return cls.from_instrument(Instrument.model_validate({**row, "category": Category(category)}))

    def check(self, order: OrderRequest, reference_price: Decimal | None = None) -> RuleBreach | None:
        """The first rule ``order`` breaks, with Bybit's answer; None when Bybit would take it.

        A market order's value is judged at ``reference_price`` (the price it would fill at); without
        one its minimum and maximum value are not checked.
        """
        quote_unit = order.qty_unit(self.category) is MarketUnit.QUOTE_COIN
        rule = self._broken(order, reference_price, quote_unit)
        return None if rule is None else breach(self.category, rule, quote_unit=quote_unit)

    def _broken(self, order: OrderRequest, reference_price: Decimal | None, quote_unit: bool) -> Rule | None:
        if self.status != InstrumentStatus.TRADING:
            return Rule.NOT_TRADING
        price = order.price if order.order_type is OrderType.LIMIT else None
        broken = None if price is None else self._price_rule(price)
        if broken is None:
            broken = self._quote_rule(order.qty) if quote_unit else self._qty_rule(order.qty, price)
        if broken is None and not quote_unit:
            broken = self._value_rule(
                self.order_value(order.qty, price if price is not None else reference_price)
            )
        return broken

    def _price_rule(self, price: Decimal) -> Rule | None:
        if price % self.tick_size:
            return Rule.PRICE_TICK
        if self.min_price is not None and price < self.min_price:
            return Rule.PRICE_TOO_LOW
        if self.max_price is not None and price > self.max_price:
            return Rule.PRICE_TOO_HIGH
        return None

    def _qty_rule(self, qty: Decimal, price: Decimal | None) -> Rule | None:
        high = self.max_market_qty if price is None and self.max_market_qty else self.max_qty
        return _bounded(qty, self.qty_step, self.min_qty, high)

    def _quote_rule(self, amount: Decimal) -> Rule | None:
        """A spot market buy by value: the amount's own step and bounds."""
        return _bounded(amount, self.quote_step or self.tick_size, self.min_notional, self.max_notional)

    def _value_rule(self, value: Decimal | None) -> Rule | None:
        if value is None:
            return None
        if self.min_notional is not None and value < self.min_notional:
            return Rule.NOTIONAL_MIN
        if self.max_notional is not None and value > self.max_notional:
            return Rule.NOTIONAL_MAX
        return None

    def order_value(self, qty: Decimal, price: Decimal | None) -> Decimal | None:
        """What an order of ``qty`` at ``price`` is worth in the quote (settle) coin: inverse
        contracts count in it already."""
        if self.category is Category.INVERSE:
            return qty
        return None if price is None else qty * price


def _bounded(qty: Decimal, step: Decimal, low: Decimal | None, high: Decimal | None) -> Rule | None:
    if qty < step:
        return Rule.QTY_TRUNCATED
    if qty % step:
        return Rule.QTY_STEP
    if low is not None and qty < low:
        return Rule.QTY_MIN
    if high is not None and qty > high:
        return Rule.QTY_MAX
    return None
