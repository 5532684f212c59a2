"""Trading through the client against the fake exchange over HTTP: refusals with Bybit's codes (and
the local check agreeing), fills, positions and the wallet, amendments and batches, what Bybit
keeps and for how long, and the per-account limits."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from bybit_client import (
    BudgetPolicy,
    BybitClient,
    BybitInvalidRequestError,
    CancelRequest,
    LimitSeen,
    OrderOutcome,
    OrderRequest,
    OrderStatus,
    RetryPolicy,
    Side,
)
from bybit_client.testing import FakeBybit
from bybit_client.testing.data import DAY_MS

API_KEY = "testkey00001"  # the key the `bybit` fixture registers
SECRET = "testsecret-do-not-leak-9f3a"
CREATE = "/v5/order/create"


def price_of(bybit: FakeBybit, symbol: str = "BTCUSDT", category: str = "linear") -> Decimal:
    return bybit.price(symbol, category=category)


def buy(qty: str, price: Decimal | None = None) -> OrderRequest:
    """A linear BTCUSDT buy: a market order, or a limit one at ``price``."""
    if price is None:
        return OrderRequest(symbol="BTCUSDT", side="Buy", order_type="Market", qty=qty)
    return OrderRequest(symbol="BTCUSDT", side="Buy", order_type="Limit", qty=qty, price=price)


def refusal(outcome: OrderOutcome[Any]) -> tuple[str, int | None]:
    return outcome.outcome.value, outcome.ret_code


@pytest.mark.parametrize(
    ("category", "symbol", "qty", "price_offset", "code"),
    [
        ("linear", "BTCUSDT", "1", "-1.00005", 10001),  # price off the tick
        ("linear", "BTCUSDT", "1.05", "-1", 10001),  # quantity off the step
        ("linear", "BTCUSDT", "0.05", "-1", 110017),  # less than one step: truncated to zero
        ("linear", "BTCUSDT", "0.1", "-1", 110094),  # notional under 5 USDT
        ("linear", "BTCUSDT", "10000", "-1", 110007),  # more margin than the wallet holds
        ("linear", "NOSUCHUSDT", "1", "0", 10001),  # unknown symbol
        ("linear", "TKN006USDT", "1", "-1", 110074),  # listed, not trading (Closed)
        ("spot", "BTCUSDT", "1", "-1.005", 170134),
        ("spot", "BTCUSDT", "1.0000005", "-1", 170137),
        ("spot", "BTCUSDT", "0.00001", "-1", 170136),
        ("spot", "BTCUSDT", "0.05", "-1", 170140),
        ("spot", "ETHUSDT", "70", "-1", 170131),  # more USDT than the wallet holds
        ("spot", "NOSUCHUSDT", "1", "0", 170121),
    ],
)
def test_every_refusal_comes_with_bybits_code_and_the_local_check_agrees(
    client: BybitClient, bybit: FakeBybit, category: str, symbol: str, qty: str, price_offset: str, code: int
) -> None:
    base = price_of(bybit, "BTCUSDT" if symbol.startswith("NOSUCH") else symbol, category)
    price = base + Decimal(price_offset)
    outcome = client.create_order(category, symbol, "Buy", "Limit", qty, price=price)
    assert refusal(outcome) == ("rejected", code)
    rules = client.instrument_rules(category, symbol)
    if rules is not None and code not in (110007, 170131):  # the balance is the exchange's to judge
        breach = rules.check(
            OrderRequest(symbol=symbol, side=Side.BUY, order_type="Limit", qty=Decimal(qty), price=price)
        )
        assert breach is not None
        assert breach.ret_code == code
    assert bybit.orders(API_KEY) == []  # nothing was placed


def test_the_other_refusals(client: BybitClient, bybit: FakeBybit) -> None:
    below = price_of(bybit) - 1
    placed = client.create_order(
        "linear", "BTCUSDT", "Buy", "Limit", "1", price=below, order_link_id="mine-1"
    )
    # The same create again reports the order the id names; another order under that id is refused.
    again = client.create_order("linear", "BTCUSDT", "Buy", "Limit", "1", price=below, order_link_id="mine-1")
    assert (again.outcome, again.repeated, again.order_id, again.ret_code) == (
        "accepted",
        True,
        placed.order_id,
        110072,
    )
    other = client.create_order("linear", "BTCUSDT", "Buy", "Limit", "2", price=below, order_link_id="mine-1")
    assert refusal(other) == ("rejected", 110072)
    assert refusal(client.amend_order("linear", "BTCUSDT", order_link_id="mine-1", price=below)) == (
        "rejected",
        10001,
    )
    assert client.cancel_order("linear", "BTCUSDT", order_link_id="mine-1").accepted
    # Cancelling, amending a finished order: Bybit says it does not exist.
    assert refusal(client.cancel_order("linear", "BTCUSDT", order_link_id="mine-1")) == ("rejected", 110001)
    assert refusal(client.amend_order("linear", "BTCUSDT", order_id=placed.order_id, qty="3")) == (
        "rejected",
        110001,
    )
    spot_below = price_of(bybit, "BTCUSDT", "spot") - 1
    sold = client.create_order("spot", "BTCUSDT", "Sell", "Market", "0.1")
    assert sold.accepted
    assert refusal(client.cancel_order("spot", "BTCUSDT", order_id=sold.order_id)) == ("rejected", 170213)
    kept = client.create_order(
        "spot", "BTCUSDT", "Buy", "Limit", "0.1", price=spot_below, order_link_id="s-1"
    )
    assert kept.accepted
    dup = client.create_order("spot", "BTCUSDT", "Buy", "Limit", "0.2", price=spot_below, order_link_id="s-1")
    assert refusal(dup) == ("rejected", 170141)
    with pytest.raises(ValueError, match="longer than 36"):
        client.create_order("linear", "BTCUSDT", "Buy", "Limit", "1", price=below, order_link_id="x" * 37)


def test_a_market_order_fills_in_parts_that_sum_to_it(client: BybitClient, bybit: FakeBybit) -> None:
    bybit.set_liquidity("BTCUSDT", "4")
    start = bybit.now_ms()
    bought = client.create_order("linear", "BTCUSDT", "Buy", "Market", "10")
    assert bought.accepted
    fills = list(client.iter_executions("linear", start, bybit.now_ms(), order_id=bought.order_id))
    assert [fill.exec_qty for fill in reversed(fills)] == [Decimal(4), Decimal(4), Decimal(2)]  # newest first
    assert len({fill.exec_price for fill in fills}) == 3  # each book level a tick worse
    assert len({fill.exec_id for fill in fills}) == 3
    order = client.find_order("linear", order_id=bought.order_id)
    assert order is not None
    assert (order.order_status, order.cum_exec_qty) == (OrderStatus.FILLED, Decimal(10))
    assert order.cum_exec_value == sum(fill.exec_price * fill.exec_qty for fill in fills)
    (position,) = client.positions("linear", symbol="BTCUSDT")
    assert (position.side, position.size) == (Side.BUY, Decimal(10))
    assert position.avg_price == order.avg_price


def test_a_resting_order_fills_over_time_when_the_price_reaches_it(
    client: BybitClient, bybit: FakeBybit
) -> None:
    bybit.set_liquidity("BTCUSDT", "3")
    market = price_of(bybit)
    start = bybit.now_ms()
    rest = client.create_order("linear", "BTCUSDT", "Buy", "Limit", "8", price=market - 1)
    assert client.find_order("linear", order_id=rest.order_id).order_status is OrderStatus.NEW  # type: ignore[union-attr]
    bybit.set_price("BTCUSDT", market - Decimal("1.5"))  # the asks came down to the order: 3 of 8
    partial = client.find_order("linear", order_id=rest.order_id)
    assert partial is not None
    assert (partial.order_status, partial.cum_exec_qty, partial.leaves_qty) == (
        OrderStatus.PARTIALLY_FILLED,
        Decimal(3),
        Decimal(5),
    )
    bybit.tick()
    bybit.tick()
    filled = client.find_order("linear", order_id=rest.order_id)
    assert filled is not None
    assert filled.order_status is OrderStatus.FILLED
    fills = list(client.iter_executions("linear", start, bybit.now_ms(), order_link_id=rest.order_link_id))
    assert sorted(fill.exec_qty for fill in fills) == [Decimal(2), Decimal(3), Decimal(3)]
    assert {fill.exec_price for fill in fills} == {market - 1}  # a maker fills at its own price
    assert all(fill.is_maker for fill in fills)


def test_positions_and_the_wallet_move_with_fills_and_fees(client: BybitClient, bybit: FakeBybit) -> None:
    bybit.set_liquidity("BTCUSDT", "100")
    before = client.wallet_balance("USDT").coin("USDT")
    assert before is not None
    assert before.wallet_balance == Decimal(10000)
    buy = client.create_order("linear", "BTCUSDT", "Buy", "Market", "10")
    bybit.set_price("BTCUSDT", price_of(bybit) + 2)
    sell = client.create_order("linear", "BTCUSDT", "Sell", "Market", "4")
    orders = [client.find_order("linear", order_id=placed.order_id) for placed in (buy, sell)]
    bought, sold = (order for order in orders if order is not None)
    assert bought.avg_price is not None
    assert sold.avg_price is not None
    pnl = (sold.avg_price - bought.avg_price) * 4
    fees = (bought.cum_exec_fee or 0) + (sold.cum_exec_fee or 0)
    (position,) = client.positions("linear", symbol="BTCUSDT")
    assert (position.side, position.size, position.avg_price) == (Side.BUY, Decimal(6), bought.avg_price)
    assert position.cum_realised_pnl == pnl - fees
    after = client.wallet_balance("USDT").coin("USDT")
    assert after is not None
    assert after.wallet_balance == Decimal(10000) + pnl - fees
    assert after.unrealised_pnl == (price_of(bybit) - bought.avg_price) * 6
    # Selling more than the position turns it round, at the fill's price.
    client.create_order("linear", "BTCUSDT", "Sell", "Market", "10")
    (flipped,) = client.positions("linear", symbol="BTCUSDT")
    assert (flipped.side, flipped.size) == (Side.SELL, Decimal(4))


def test_spot_moves_coins_and_locks_what_open_orders_spend(client: BybitClient, bybit: FakeBybit) -> None:
    market = price_of(bybit, "BTCUSDT", "spot")
    bought = client.create_order("spot", "BTCUSDT", "Buy", "Market", "0.5", market_unit="baseCoin")
    assert bought.accepted
    order = client.find_order("spot", order_id=bought.order_id)
    assert order is not None
    assert order.cum_exec_value is not None
    wallet = client.wallet_balance(["USDT", "BTC"])
    usdt, btc = wallet.coin("USDT"), wallet.coin("BTC")
    assert usdt is not None
    assert btc is not None
    assert usdt.wallet_balance == Decimal(10000) - order.cum_exec_value
    assert btc.wallet_balance == Decimal("0.5") + Decimal("0.5") - order.cum_exec_fee  # type: ignore[operator]
    resting = client.create_order("spot", "BTCUSDT", "Buy", "Limit", "1", price=market - 1)
    locked = client.wallet_balance("USDT").coin("USDT")
    assert locked is not None
    assert locked.locked == market - 1
    client.cancel_order("spot", "BTCUSDT", order_id=resting.order_id)
    assert client.wallet_balance("USDT").coin("USDT").locked == 0  # type: ignore[union-attr]
    # A market buy counts in the quote coin by default: it spends the amount, but for dust.
    by_value = client.create_order("spot", "BTCUSDT", "Buy", "Market", "50")
    spent = client.find_order("spot", order_id=by_value.order_id)
    assert spent is not None
    assert spent.order_status is OrderStatus.FILLED
    assert spent.cum_exec_value is not None
    assert Decimal(50) - market * Decimal("0.000002") < spent.cum_exec_value <= Decimal(50)


def test_amend_cancel_all_and_batches(client: BybitClient, bybit: FakeBybit) -> None:
    bybit.uid_limits.scale = 10  # a batch counts its orders: 25 would be past Bybit's 10 a second
    below = price_of(bybit) - 1
    placed = client.create_order("linear", "BTCUSDT", "Buy", "Limit", "1", price=below)
    amended = client.amend_order("linear", "BTCUSDT", order_id=placed.order_id, qty="2", price=below - 1)
    assert amended.accepted
    order = client.find_order("linear", order_id=placed.order_id)
    assert order is not None
    assert (order.qty, order.price) == (Decimal(2), below - 1)
    requests = [
        OrderRequest(
            symbol="BTCUSDT",
            side=Side.BUY,
            order_type="Limit",
            qty=Decimal(1),
            price=below - Decimal(step) / 100,
        )
        for step in range(25)
    ]
    requests[3] = OrderRequest(
        symbol="BTCUSDT", side=Side.BUY, order_type="Limit", qty=Decimal("1.05"), price=below
    )
    outcomes = client.create_orders("linear", requests)
    assert bybit.count("/v5/order/create-batch") == 3  # 10 per request
    assert [outcome.outcome.value for outcome in outcomes].count("accepted") == 24
    assert refusal(outcomes[3]) == ("rejected", 10001)
    assert [outcome.order_link_id for outcome in outcomes] == [request.order_link_id for request in requests]
    cancels = [
        CancelRequest(symbol="BTCUSDT", order_link_id=requests[0].order_link_id),
        CancelRequest(symbol="BTCUSDT", order_id="nope"),
    ]
    first, missing = client.cancel_orders("linear", cancels)
    assert first.accepted
    assert refusal(missing) == ("rejected", 110001)
    everything = client.cancel_all_orders("linear", symbol="BTCUSDT")
    assert everything.accepted
    assert everything.result is not None
    assert len(everything.result) == 24
    assert client.open_orders("linear", symbol="BTCUSDT") == []
    assert client.cancel_all_orders("linear", symbol="BTCUSDT").result == []  # safe to repeat


def test_what_order_history_keeps_and_for_how_long(client: BybitClient, bybit: FakeBybit) -> None:
    bybit.freeze_clock()
    below = price_of(bybit) - 1
    filled = bybit.place_order(API_KEY, "linear", buy("1"))["orderId"]
    cancelled = bybit.place_order(API_KEY, "linear", buy("1", below))["orderId"]
    part = bybit.place_order(API_KEY, "linear", buy("2", below))["orderId"]
    bybit.fill(API_KEY, order_id=part, qty="1")
    resting = bybit.place_order(API_KEY, "linear", buy("1", below))["orderId"]
    for order_id in (cancelled, part):
        assert client.cancel_order("linear", "BTCUSDT", order_id=order_id).accepted

    def kept(days: int) -> set[str]:
        now = bybit.now_ms()
        listed = client.iter_order_history("linear", now - days * DAY_MS - 1000, now, symbol="BTCUSDT")
        return {order.order_id for order in listed}

    assert kept(1) == {filled, cancelled, part, resting}
    # The realtime query keeps the recent closed orders until Bybit restarts; the history stays.
    assert {order.order_id for order in client.recent_closed_orders("linear", symbol="BTCUSDT")} == {
        filled,
        cancelled,
        part,
    }
    bybit.forget_closed_orders()
    assert client.recent_closed_orders("linear", symbol="BTCUSDT") == []
    assert client.find_order("linear", order_id=cancelled) is not None
    bybit.advance_clock(25 * 3_600_000)  # a cancelled order without fills is kept a day
    client.sync_time()
    assert kept(2) == {filled, part, resting}
    assert client.find_order("linear", order_id=cancelled) is None  # not proof it never existed
    bybit.advance_clock(10 * DAY_MS)  # beyond 7 days: only orders with fills (and open ones)
    client.sync_time()
    assert kept(12) == {filled, part, resting}
    assert client.find_order("linear", order_id=filled) is None  # a lookup reads the last 7 days
    with pytest.raises(BybitInvalidRequestError, match="7 days"):
        client.request(
            "GET",
            "/v5/order/history",
            {"category": "linear", "startTime": 0, "endTime": 8 * DAY_MS},
            signed=True,
        )


def test_the_realtime_query_keeps_500_closed_orders(client: BybitClient, bybit: FakeBybit) -> None:
    for _ in range(510):
        bybit.place_order(API_KEY, "linear", buy("1"))
    closed = client.recent_closed_orders("linear", symbol="BTCUSDT", limit=50)
    assert len(closed) == 500
    assert len({order.order_id for order in closed}) == 500
    assert closed == sorted(closed, key=lambda order: order.created_time, reverse=True)


def test_executions_come_window_by_window_across_any_range(client: BybitClient, bybit: FakeBybit) -> None:
    bybit.freeze_clock()
    first = bybit.now_ms()
    for _ in range(3):  # one fill every 5 days: three windows of 7 days
        bybit.place_order(API_KEY, "linear", buy("1"))
        bybit.advance_clock(5 * DAY_MS)
    client.sync_time()
    fills = list(client.iter_executions("linear", first, bybit.now_ms(), limit=1))
    assert [fill.exec_time for fill in fills] == sorted((fill.exec_time for fill in fills), reverse=True)
    assert len(fills) == 3
    assert fills[-1].exec_time == datetime.fromtimestamp(first / 1000, UTC)
    assert bybit.count("/v5/execution/list") >= 3


class OpenBudget:
    """A budget that lets every call through: what Bybit itself does past its limits shows."""

    policy = BudgetPolicy(ip_limit=None)

    def admit(self, group: str) -> None:
        return None

    def observe(self, group: str, seen: LimitSeen) -> None:
        pass

    def pause(self, seconds: float, reason: str) -> None:
        pass


def test_per_account_order_limits_answer_10006_with_bybits_headers(bybit: FakeBybit) -> None:
    bybit.add_key("otherkey0001", "other-secret")
    below = price_of(bybit) - 1
    one_attempt = RetryPolicy(max_attempts=1)
    with (
        BybitClient(bybit.base_url, API_KEY, SECRET, retry=one_attempt, budget=OpenBudget()) as ours,
        BybitClient(
            bybit.base_url, "otherkey0001", "other-secret", retry=one_attempt, budget=OpenBudget()
        ) as theirs,
    ):
        seen = []
        for _ in range(12):
            outcome = ours.create_order("linear", "BTCUSDT", "Buy", "Limit", "1", price=below)
            status = ours.rate_limits[CREATE]
            seen.append((outcome.ret_code, status.limit, status.remaining))
        assert seen[:10] == [(0, 10, 9 - index) for index in range(10)]
        assert [code for code, _, _ in seen[10:]] == [10006, 10006]
        refused = ours.create_order("linear", "BTCUSDT", "Buy", "Limit", "1", price=below)
        assert refused.unknown  # 10006 does not prove the order was refused: look it up
        reset_at = ours.rate_limits[CREATE].reset_at
        assert reset_at is not None
        assert reset_at > datetime.now(UTC) - timedelta(milliseconds=50)  # when the window lets one through
        # Limits count per account and per line: another account, and spot, are not held back.
        assert theirs.create_order("linear", "BTCUSDT", "Buy", "Limit", "1", price=below).accepted
        spot_below = price_of(bybit, "BTCUSDT", "spot") - 1
        assert ours.create_order("spot", "BTCUSDT", "Buy", "Limit", "0.1", price=spot_below).accepted
        assert ours.rate_limits[CREATE].limit == 20
        # A batch counts its orders; those past the limit fail, the others go through.
        requests = [
            OrderRequest(symbol="BTCUSDT", side=Side.BUY, order_type="Limit", qty=Decimal(1), price=below)
            for _ in range(15)
        ]
        outcomes = theirs.create_orders("linear", requests)
    assert [outcome.ret_code for outcome in outcomes] == [0] * 10 + [10006] * 5
    assert all(outcome.unknown for outcome in outcomes[10:])
