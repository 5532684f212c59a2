"""What an order to place is, checked before anything is sent: ``OrderRequest`` and the
``orderLinkId`` rules.

Bybit takes an ``orderLinkId`` of at most 36 letters, digits, ``-`` and ``_``, unique per account:
that id is what makes a create safe to send again and what finds an order whose answer was lost.
So every request carries one (made here when the caller has none) and a malformed one is a
``ValueError`` at once, never a request. The fake exchange judges the ids it receives with the
same function, so the two cannot disagree.
"""

import re
import uuid
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from bybit_client.enums import Category, MarketUnit, OrderType, Side, TimeInForce

ORDER_LINK_ID_MAX = 36
_ORDER_LINK_ID = re.compile(r"[A-Za-z0-9_-]{1,36}")


def new_order_link_id() -> str:
    """A fresh client order id (32 hex characters, within Bybit's 36)."""
    return uuid.uuid4().hex


def check_order_link_id(order_link_id: str) -> str:
    """``order_link_id`` when Bybit would take it, else ``ValueError`` saying which rule it breaks."""
    if not isinstance(order_link_id, str) or not order_link_id:
        raise ValueError("orderLinkId must be a non-empty string")
    if len(order_link_id) > ORDER_LINK_ID_MAX:
        raise ValueError(f"orderLinkId is longer than {ORDER_LINK_ID_MAX} characters")
    if _ORDER_LINK_ID.fullmatch(order_link_id) is None:
        raise ValueError("orderLinkId may hold only letters, digits, '-' and '_'")
    return order_link_id


def _positive(value: Decimal | None, info: ValidationInfo) -> Decimal | None:
    if value is not None and (not value.is_finite() or value <= 0):
        raise ValueError(f"{info.field_name} must be a positive number, not {value}")
    return value


class OrderRequest(BaseModel):
    """One order to place (``create_order`` and ``create_orders`` send these); keyword arguments,
    terms as enums or their text, quantities as Decimals or their text.

    ``qty`` and ``price`` are exact Decimals; a limit order needs a price, a market order sends
    none (Bybit ignores it). ``market_unit`` says what a spot market order's qty counts (Bybit's
    default: quote coin for a buy, base coin for a sell). ``extra`` holds any other parameter of
    Bybit's (``takeProfit``, ``positionIdx``, ...) and can override none of the fields above.
    A malformed request is a ``ValueError`` (pydantic's ``ValidationError``): nothing is sent.
    """

    model_config = ConfigDict(frozen=True)

    symbol: str
    side: Side
    order_type: OrderType
    qty: Decimal
    price: Decimal | None = None
    time_in_force: TimeInForce | None = None
    order_link_id: str = Field(default_factory=new_order_link_id)
    reduce_only: bool | None = None
    market_unit: MarketUnit | None = None
    extra: tuple[tuple[str, Any], ...] = ()

    _positive_numbers = field_validator("qty", "price")(_positive)

    @field_validator("order_link_id")
    @classmethod
    def _bybit_takes_it(cls, value: str) -> str:
        return check_order_link_id(value)

    @model_validator(mode="after")
    def _priced(self) -> "OrderRequest":
        if self.order_type is OrderType.LIMIT and self.price is None:
            raise ValueError("a limit order needs a price")
        if self.order_type is OrderType.MARKET and self.price is not None:
            object.__setattr__(self, "price", None)  # Bybit ignores a market order's price: send none
        return self

    def qty_unit(self, category: Category) -> MarketUnit:
        """What ``qty`` counts: the base coin, or (a spot market order) the unit Bybit reads."""
        if category is not Category.SPOT or self.order_type is not OrderType.MARKET:
            return MarketUnit.BASE_COIN
        if self.market_unit is not None:
            return self.market_unit
        return MarketUnit.QUOTE_COIN if self.side is Side.BUY else MarketUnit.BASE_COIN

    def params(self) -> dict[str, object]:
        """The request's fields in Bybit's names (``extra`` first, so it can override none of them)."""
        return {
            **dict(self.extra),
            "symbol": self.symbol,
            "side": self.side,
            "orderType": self.order_type,
            "qty": self.qty,
            "price": self.price,
            "timeInForce": self.time_in_force,
            "orderLinkId": self.order_link_id,
            "reduceOnly": self.reduce_only,
            "marketUnit": self.market_unit,
        }


class CancelRequest(BaseModel):
    """One order to cancel, by ``order_id`` or ``order_link_id`` (``cancel_orders`` sends these)."""

    model_config = ConfigDict(frozen=True)

    symbol: str
    order_id: str | None = None
    order_link_id: str | None = None

    @model_validator(mode="after")
    def _identified(self) -> "CancelRequest":
        if not (self.order_id or self.order_link_id):
            raise ValueError("a cancel needs order_id or order_link_id")
        if self.order_link_id is not None:
            check_order_link_id(self.order_link_id)
        return self

    def params(self) -> dict[str, object]:
        return {"symbol": self.symbol, "orderId": self.order_id, "orderLinkId": self.order_link_id}
