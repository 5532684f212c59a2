"""Order requests, instrument rules and outcome classes on their own (no server)."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from bybit_client import (
    BybitAuthError,
    BybitError,
    BybitInvalidRequestError,
    BybitRateLimitError,
    BybitTransientError,
    Category,
    InstrumentRules,
    Order,
    OrderRequest,
    OrderStatus,
    Rule,
    check_order_link_id,
)
from bybit_client.outcomes import Outcome, outcome_of_error
from bybit_client.testing import default_instruments

LINEAR = InstrumentRules.from_raw(
    "linear", next(row for row in default_instruments()["linear"] if row["symbol"] == "BTCUSDT")
)
SPOT = InstrumentRules.from_raw(
    "spot", next(row for row in default_instruments()["spot"] if row["symbol"] == "BTCUSDT")
)


@pytest.mark.parametrize("link_id", ["a", "A-b_9", "x" * 36])
def test_order_link_ids_bybit_takes(link_id: str) -> None:
    assert check_order_link_id(link_id) == link_id


@pytest.mark.parametrize(
    ("link_id", "why"),
    [("", "non-empty"), ("x" * 37, "longer than 36"), ("a b", "letters, digits"), ("é", "letters, digits")],
)
def test_order_link_ids_refused_before_sending(link_id: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        check_order_link_id(link_id)
    with pytest.raises(ValueError, match=why):
        OrderRequest(symbol="BTCUSDT", side="Buy", order_type="Market", qty=Decimal(1), order_link_id=link_id)


def test_an_order_request_is_normalised_and_always_has_an_id() -> None:
    request = OrderRequest(symbol="BTCUSDT", side="Buy", order_type="Limit", qty="1.50", price="10")
    assert (request.qty, request.price, len(request.order_link_id)) == (Decimal("1.50"), Decimal(10), 32)
    assert (
        OrderRequest(
            symbol="BTCUSDT", side="Sell", order_type="Market", qty=Decimal(1), price=Decimal(5)
        ).price
        is None
    )
    with pytest.raises(ValueError, match="needs a price"):
        OrderRequest(symbol="BTCUSDT", side="Buy", order_type="Limit", qty=Decimal(1))
    with pytest.raises(ValueError, match="positive"):
        OrderRequest(symbol="BTCUSDT", side="Buy", order_type="Market", qty=Decimal(0))


def _limit(qty: str, price: str, side: str = "Buy") -> OrderRequest:
    return OrderRequest(
        symbol="BTCUSDT", side=side, order_type="Limit", qty=Decimal(qty), price=Decimal(price)
    )


@pytest.mark.parametrize(
    ("request_", "rule", "code"),
    [
        (_limit("1", "10.00005"), Rule.PRICE_TICK, 10001),
        (_limit("1", "0.00005"), Rule.PRICE_TICK, 10001),
        (_limit("1", "20000"), Rule.PRICE_TOO_HIGH, 110003),
        (_limit("0.05", "100"), Rule.QTY_TRUNCATED, 110017),
        (_limit("1.05", "100"), Rule.QTY_STEP, 10001),
        (_limit("2000000", "10"), Rule.QTY_MAX, 10001),
        (_limit("0.1", "10"), Rule.NOTIONAL_MIN, 110094),
    ],
)
def test_each_linear_rule_with_bybits_code(request_: OrderRequest, rule: Rule, code: int) -> None:
    breach = LINEAR.check(request_)
    assert breach is not None
    assert (breach.rule, breach.ret_code) == (rule, code)


@pytest.mark.parametrize(
    ("request_", "rule", "code"),
    [
        (_limit("0.1", "10.005"), Rule.PRICE_TICK, 170134),
        (_limit("0.1000005", "10"), Rule.QTY_STEP, 170137),
        (_limit("0.00001", "10"), Rule.QTY_MIN, 170136),
        (_limit("72", "10"), Rule.QTY_MAX, 170381),
        (_limit("0.05", "10"), Rule.NOTIONAL_MIN, 170140),
    ],
)
def test_each_spot_rule_with_bybits_code(request_: OrderRequest, rule: Rule, code: int) -> None:
    breach = SPOT.check(request_)
    assert breach is not None
    assert (breach.rule, breach.ret_code) == (rule, code)


def test_a_spot_market_buy_counts_in_the_quote_coin() -> None:
    buy = OrderRequest(symbol="BTCUSDT", side="Buy", order_type="Market", qty=Decimal("0.5"))
    breach = SPOT.check(buy)  # 0.5 USDT: under the 1 USDT minimum amount
    assert breach is not None
    assert (breach.rule, breach.ret_code) == (Rule.QTY_MIN, 170140)
    assert SPOT.check(OrderRequest(symbol="BTCUSDT", side="Buy", order_type="Market", qty=Decimal(5))) is None
    # A market order's value is judged at the price it would fill at, when one is given.
    sell = OrderRequest(symbol="BTCUSDT", side="Sell", order_type="Market", qty=Decimal("0.01"))
    assert SPOT.check(sell) is None
    assert SPOT.check(sell, reference_price=Decimal(10)) is not None


def test_valid_orders_pass_and_a_closed_symbol_does_not() -> None:
    assert LINEAR.check(_limit("1", "100.0001")) is None
    closed = InstrumentRules.from_raw("linear", default_instruments()["linear"][21])
    breach = closed.check(_limit("1", "100"))
    assert breach is not None
    assert (breach.rule, breach.ret_code) == (Rule.NOT_TRADING, 110074)
    assert LINEAR.category is Category.LINEAR


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (BybitTransientError("timed out", endpoint="/v5/order/create"), Outcome.UNKNOWN),
        (BybitTransientError("Server Timeout", ret_code=10000), Outcome.UNKNOWN),
        (BybitTransientError("502", http_status=502), Outcome.UNKNOWN),
        (BybitRateLimitError("Too many visits!", ret_code=10006), Outcome.UNKNOWN),
        (BybitRateLimitError("access too frequent", http_status=403), Outcome.UNKNOWN),
        (BybitInvalidRequestError("system frequency protection", ret_code=10429), Outcome.UNKNOWN),
        (BybitError("unexpected result shape", ret_code=0), Outcome.UNKNOWN),
        (BybitInvalidRequestError("Qty invalid", ret_code=10001), Outcome.REJECTED),
        (BybitInvalidRequestError("ab not enough for new order", ret_code=110007), Outcome.REJECTED),
        (BybitAuthError("API key is invalid.", ret_code=10003), Outcome.REJECTED),
        (BybitAuthError("no auth", http_status=401), Outcome.REJECTED),
    ],
)
def test_what_each_answer_proves(error: BybitError, outcome: Outcome) -> None:
    assert outcome_of_error(error) is outcome


def _order(status: str, cum: str, updated: int) -> Order:
    return Order.model_validate(
        {
            "orderId": "1",
            "orderLinkId": "a",
            "symbol": "BTCUSDT",
            "side": "Buy",
            "orderType": "Limit",
            "price": "10",
            "qty": "2",
            "orderStatus": status,
            "cumExecQty": cum,
            "createdTime": "1700000000000",
            "updatedTime": str(updated),
        }
    )


def test_order_versions_order_the_states_of_one_order() -> None:
    new = _order("New", "0", 1_700_000_000_000)
    partial = _order("PartiallyFilled", "1", 1_700_000_000_005)
    amended = _order("PartiallyFilled", "1", 1_700_000_000_009)
    cancelled = _order("Cancelled", "1", 1_700_000_000_009)  # the same millisecond: final wins
    assert new.version < partial.version < amended.version < cancelled.version
    assert partial.version == _order("PartiallyFilled", "1", 1_700_000_000_005).version  # a duplicate
    assert cancelled.order_status is OrderStatus.CANCELLED
    assert cancelled.order_status.is_final
    assert new.updated_time.tzinfo is UTC
    assert new.created_time == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
