"""The fake exchange's refusals: ``FakeError`` (a retCode and message the REST side answers) and
Bybit's codes for the refusals that are not an instrument's rules (those are in
``bybit_client.rules``, shared with the client)."""

from enum import StrEnum

from bybit_client.enums import Category


class FakeError(Exception):
    """A refusal: answered as HTTP 200 with this retCode and retMsg."""

    def __init__(self, ret_code: int, ret_msg: str) -> None:
        super().__init__(ret_msg)
        self.ret_code = ret_code
        self.ret_msg = ret_msg


class Refusal(StrEnum):
    DUPLICATE_LINK_ID = "duplicate_link_id"
    ORDER_NOT_FOUND = "order_not_found"  # unknown, or finished (filled, cancelled)
    INSUFFICIENT_BALANCE = "insufficient_balance"
    UNCHANGED = "unchanged"  # an amendment that changes nothing
    QTY_NOT_ABOVE_FILLED = "qty_not_above_filled"
    REDUCE_ONLY = "reduce_only"
    TOO_MANY_OPEN_ORDERS = "too_many_open_orders"


# docs/v5/error.mdx: derivatives (UTA) and spot trade codes.
_CONTRACT: dict[Refusal, tuple[int, str]] = {
    Refusal.DUPLICATE_LINK_ID: (110072, "OrderLinkedID is duplicate"),
    Refusal.ORDER_NOT_FOUND: (110001, "Order does not exist"),
    Refusal.INSUFFICIENT_BALANCE: (110007, "ab not enough for new order"),
    Refusal.UNCHANGED: (
        10001,
        "The order remains unchanged as the parameters entered match the existing ones.",
    ),
    Refusal.QTY_NOT_ABOVE_FILLED: (
        110064,
        "The modified contract quantity cannot be less than or equal to the filled quantity",
    ),
    Refusal.REDUCE_ONLY: (110017, "Reduce-only rule not satisfied"),
    Refusal.TOO_MANY_OPEN_ORDERS: (110020, "Not allowed to have more than 500 active orders."),
}
_SPOT: dict[Refusal, tuple[int, str]] = {
    **_CONTRACT,
    Refusal.DUPLICATE_LINK_ID: (170141, "Duplicate clientOrderId"),
    Refusal.ORDER_NOT_FOUND: (170213, "Order does not exist."),
    Refusal.INSUFFICIENT_BALANCE: (170131, "Balance insufficient"),
    Refusal.QTY_NOT_ABOVE_FILLED: (
        170313,
        "The modified contract quantity cannot be less than to the filled quantity",
    ),
}


def refuse(category: Category, refusal: Refusal) -> FakeError:
    """Bybit's answer to ``refusal`` in ``category``."""
    code, message = (_SPOT if category is Category.SPOT else _CONTRACT)[refusal]
    return FakeError(code, message)
