"""The fake exchange's matching engine: one state behind its REST answers and its private pushes.

It places, amends and cancels orders (refusing what Bybit refuses, with Bybit's codes: the rules
through ``InstrumentRules.check``, the very check the client offers), fills them against each
symbol's ``Market``, moves positions and the wallet, and tells its ``sink`` every change as the
private pushes Bybit would send (order, execution, position, wallet), under the same lock that
made the change: what a stream says is what a later REST query answers.

Spot and linear trade; inverse and option orders are refused (10001). Every method is safe from
any thread (tests steer the fake while its server thread answers requests).
"""

import random
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from bybit_client.enums import Category, MarketUnit, OrderStatus, OrderType, Side, TimeInForce
from bybit_client.orders import OrderRequest
from bybit_client.rules import InstrumentRules, unknown_symbol
from bybit_client.testing import retention
from bybit_client.testing.accounts import (
    DEFAULT_LEVERAGE,
    ZERO,
    Account,
    FakeOrder,
    FakePosition,
    Fill,
    money,
)
from bybit_client.testing.data import ticker
from bybit_client.testing.market import Market, on_step
from bybit_client.testing.refusals import FakeError, Refusal, refuse
from bybit_client.testing.shapes import execution_view, order_view, position_view, wallet_view

TRADED = (Category.SPOT, Category.LINEAR)
# Bybit's base fee rates (taker, maker).
FEES: dict[Category, tuple[Decimal, Decimal]] = {
    Category.SPOT: (Decimal("0.001"), Decimal("0.001")),
    Category.LINEAR: (Decimal("0.00055"), Decimal("0.0002")),
}
MAX_OPEN_PER_SYMBOL = 500


@dataclass(frozen=True)
class PrivateEvent:
    """One private push: ``kind`` is the topic's family (order, execution, position, wallet)."""

    user_id: int
    kind: str
    category: Category | None
    data: list[dict[str, Any]]
    creation_ms: int


@dataclass
class _Action:
    """What one request or control changed for one account (pushed when it is done)."""

    account: Account
    now: int
    orders: dict[str, FakeOrder] = field(default_factory=dict)
    fills: list[Fill] = field(default_factory=list)
    positions: dict[tuple[Category, str], FakePosition] = field(default_factory=dict)
    seq: int | None = None


class TradingEngine:
    def __init__(
        self,
        instruments: Callable[[], dict[str, list[dict[str, Any]]]],
        now_ms: Callable[[], int],
        rng: random.Random,
    ) -> None:
        self._instruments = instruments
        self._now = now_ms
        self._lock = threading.RLock()
        # Told each action's pushes (the streams); ``audience`` says whom anybody listens to.
        self.sink: Callable[[list[PrivateEvent]], None] | None = None
        self.audience: Callable[[int], bool] = lambda user_id: True
        self.reset(rng)

    def reset(self, rng: random.Random) -> None:
        """No accounts, no orders, every market back at its opening price."""
        with self._lock:
            self._rng = rng
            self.accounts: dict[int, Account] = {}
            self.markets: dict[tuple[Category, str], Market] = {}
            self._rules: dict[tuple[Category, str], tuple[InstrumentRules, str, str]] = {}

    # -- accounts, instruments, markets -------------------------------------------------------------

    def open_account(self, user_id: int, balances: dict[str, str]) -> Account:
        with self._lock:
            account = self.accounts.get(user_id)
            if account is None:
                account = self.accounts[user_id] = Account(
                    user_id, {coin: Decimal(amount) for coin, amount in balances.items()}
                )
            return account

    def forget_instruments(self, category: str) -> None:
        """The instruments of ``category`` were replaced: read their rules again."""
        with self._lock:
            self._rules = {key: value for key, value in self._rules.items() if key[0] != category}

    def rules(self, category: Category, symbol: str) -> tuple[InstrumentRules, str, str]:
        """The symbol's rules, its settle (spot: quote) coin and its base coin; unknown: refused."""
        key = (category, symbol)
        known = self._rules.get(key)
        if known is None:
            row = next(
                (row for row in self._instruments().get(category, []) if row["symbol"] == symbol), None
            )
            if row is None:
                found = unknown_symbol(category)
                raise FakeError(found.ret_code, found.ret_msg)
            settle = (
                row["quoteCoin"] if category is Category.SPOT else row.get("settleCoin", row["quoteCoin"])
            )
            known = self._rules[key] = (InstrumentRules.from_raw(category, row), settle, row["baseCoin"])
        return known

    def market(self, category: Category, symbol: str) -> Market:
        key = (category, symbol)
        market = self.markets.get(key)
        if market is None:
            rules, _, _ = self.rules(category, symbol)
            market = self.markets[key] = Market.opening(rules, Decimal(ticker(symbol)["lastPrice"]))
        return market

    def last_price(self, category: Category, symbol: str) -> Decimal | None:
        market = self.markets.get((category, symbol))
        return None if market is None else market.last_price

    def marks(self) -> dict[tuple[Category, str], Decimal]:
        return {key: market.last_price for key, market in self.markets.items()}

    # -- orders -----------------------------------------------------------------------------------

    def place(
        self, user_id: int, category: Category, request: OrderRequest, *, anonymous: bool = False
    ) -> FakeOrder:
        """Place ``request`` for the account, or raise the ``FakeError`` Bybit would answer.
        ``anonymous``: the request came without an orderLinkId (the order has none)."""
        with self._lock:
            account = self.accounts[user_id]
            rules, settle, base = self.rules(category, request.symbol)
            market = self.market(category, request.symbol)
            if category not in TRADED:
                raise FakeError(10001, f"the fake exchange trades {' and '.join(TRADED)} only")
            link_id = "" if anonymous else request.order_link_id
            if link_id and (category, link_id) in account.link_ids:
                raise refuse(category, Refusal.DUPLICATE_LINK_ID)
            side = request.side
            reference = market.best_ask if side is Side.BUY else market.best_bid
            broken = rules.check(request, reference_price=reference)
            if broken is not None:
                raise FakeError(broken.ret_code, broken.ret_msg)
            if category is not Category.SPOT:
                self._check_contract(account, category, request, market, settle)
            now = self._now()
            order = FakeOrder(
                user_id=user_id,
                category=category,
                symbol=request.symbol,
                settle_coin=settle,
                base_coin=base,
                order_id=self._new_id(),
                order_link_id=link_id,
                side=side,
                order_type=request.order_type,
                price=request.price,
                qty=request.qty,
                time_in_force=self._time_in_force(request),
                market_unit=self._market_unit(category, request),
                reduce_only=bool(request.reduce_only),
                created_ms=now,
                updated_ms=now,
            )
            self._hold(account, order, market)
            account.orders[order.order_id] = order
            if order.order_link_id:
                account.link_ids[(category, order.order_link_id)] = order.order_id
            account.open_orders[order.order_id] = order
            action = _Action(account, now, {order.order_id: order})
            if category is not Category.SPOT:
                self._note_position(action, order)
            self._take(action, order, market)
            if order.status.is_open and order.order_type is OrderType.LIMIT:
                market.resting[order.order_id] = order
            self._publish(action)
            return order

    @staticmethod
    def _time_in_force(request: OrderRequest) -> TimeInForce:
        if request.order_type is OrderType.MARKET:
            return TimeInForce.IOC  # Bybit runs a market order as an immediate-or-cancel one
        return request.time_in_force or TimeInForce.GTC

    @staticmethod
    def _market_unit(category: Category, request: OrderRequest) -> MarketUnit | None:
        if category is not Category.SPOT or request.order_type is not OrderType.MARKET:
            return None
        return request.qty_unit(category)

    def _check_contract(
        self, account: Account, category: Category, request: OrderRequest, market: Market, settle: str
    ) -> None:
        position = account.positions.get((category, request.symbol))
        closable = ZERO if position is None else position.closable(request.side)
        if request.reduce_only and request.qty > closable:
            raise refuse(category, Refusal.REDUCE_ONLY)
        resting = sum(1 for order in account.open_orders.values() if order.symbol == request.symbol)
        if resting >= MAX_OPEN_PER_SYMBOL:
            raise refuse(category, Refusal.TOO_MANY_OPEN_ORDERS)
        price = request.price or (market.best_ask if request.side is Side.BUY else market.best_bid)
        cost = money(max(ZERO, request.qty - closable) * price / DEFAULT_LEVERAGE)
        if cost > self._available(account, settle):
            raise refuse(category, Refusal.INSUFFICIENT_BALANCE)

    def _available(self, account: Account, coin: str) -> Decimal:
        """What the account may still commit of ``coin``: equity less what orders and positions hold."""
        free = account.balance(coin) - account.held.get(coin, ZERO)
        for (category, symbol), position in account.positions.items():
            if position.settle_coin == coin and position.size:
                mark = self.markets[(category, symbol)].last_price
                free += position.unrealised(mark) - position.initial_margin()
        return free

    def _hold(self, account: Account, order: FakeOrder, market: Market) -> None:
        """Reserve what a new order needs (refusing it when the account has too little)."""
        if order.category is not Category.SPOT:
            if order.order_type is OrderType.LIMIT:
                position = account.positions.get((order.category, order.symbol))
                closable = ZERO if position is None else position.closable(order.side)
                assert order.price is not None
                order.held = money(max(ZERO, order.qty - closable) * order.price / DEFAULT_LEVERAGE)
                account.hold(order.settle_coin, order.held)
            return
        coin, need = self._spot_need(order, market)
        if need > account.balance(coin) - account.held.get(coin, ZERO):
            raise refuse(order.category, Refusal.INSUFFICIENT_BALANCE)
        order.held = need
        account.hold(coin, need)

    def _spot_need(self, order: FakeOrder, market: Market) -> tuple[str, Decimal]:
        """The coin a spot order spends and how much of it the whole order would take."""
        if order.side is Side.SELL:
            if order.quote_unit:
                return order.base_coin, on_step(order.qty / market.best_bid, market.rules.qty_step)
            return order.base_coin, order.qty
        if order.quote_unit:
            return order.settle_coin, order.qty
        if order.price is not None:
            return order.settle_coin, order.qty * order.price
        return order.settle_coin, sum(
            (price * qty for price, qty in market.take(Side.BUY, order.qty, None)), ZERO
        )

    def _take(self, action: _Action, order: FakeOrder, market: Market) -> None:
        """Match a new (or amended) order as a taker; what is left rests, or is cancelled."""
        tif = order.time_in_force
        if order.order_type is OrderType.LIMIT:
            assert order.price is not None
            if not market.marketable(order.side, order.price):
                return
            if tif in (TimeInForce.POST_ONLY, TimeInForce.RPI):
                self._close(
                    action, order, OrderStatus.CANCELLED, reject_reason="EC_PostOnlyWillTakeLiquidity"
                )
                return
        if order.quote_unit and order.side is Side.BUY:
            fills = market.take_value(order.qty - order.cum_exec_value, market.rules.qty_step)
        else:
            qty = order.qty - order.cum_exec_qty
            if order.quote_unit:  # a sell counted in the quote coin
                qty = on_step(order.qty / market.best_bid, market.rules.qty_step)
            fills = market.take(order.side, qty, order.price)
            if tif is TimeInForce.FOK and sum((size for _, size in fills), ZERO) < qty:
                self._close(action, order, OrderStatus.CANCELLED, reject_reason="EC_CancelForNoFullFill")
                return
        for price, size in fills:
            self._execute(action, order, market, price, size, is_maker=False)
        if not order.status.is_open:
            return
        if order.quote_unit and order.cum_exec_qty and self._spent(order, market, fills):
            self._close(action, order, OrderStatus.FILLED)  # the amount is spent, but for dust
        elif order.order_type is OrderType.MARKET or tif in (TimeInForce.IOC, TimeInForce.FOK):
            reason = "EC_NoImmediateQtyToFill" if not order.cum_exec_qty else "EC_CancelForNoFullFill"
            self._close(action, order, self._cancelled(order), reject_reason=reason)

    @staticmethod
    def _spent(order: FakeOrder, market: Market, fills: list[tuple[Decimal, Decimal]]) -> bool:
        """Whether what is left of an amount (a spot order by value) cannot buy one more step."""
        last_price = fills[-1][0] if fills else market.best_ask
        return order.qty - order.cum_exec_value < last_price * market.rules.qty_step

    @staticmethod
    def _cancelled(order: FakeOrder) -> OrderStatus:
        # Spot names a cancelled order with fills so; derivatives say Cancelled either way.
        if order.category is Category.SPOT and order.cum_exec_qty:
            return OrderStatus.PARTIALLY_FILLED_CANCELED
        return OrderStatus.CANCELLED

    def _execute(
        self,
        action: _Action,
        order: FakeOrder,
        market: Market,
        price: Decimal,
        qty: Decimal,
        *,
        is_maker: bool,
    ) -> None:
        account = action.account
        taker_rate, maker_rate = FEES[order.category]
        rate = maker_rate if is_maker else taker_rate
        value = price * qty
        if action.seq is None:
            account.seq += 1
            action.seq = account.seq
        leaves_before = order.qty - order.cum_exec_qty
        closed = ZERO
        if order.category is Category.SPOT:
            fee, fee_coin = self._spot_fill(account, order, price, qty, value, rate)
        else:
            fee, fee_coin = money(value * rate), order.settle_coin
            position = account.position(order.category, order.symbol, order.settle_coin, action.now)
            closed, pnl = position.apply(order.side, qty, price)
            realised = pnl - fee
            position.cum_realised += realised
            position.cur_realised = position.cur_realised + realised if position.size else ZERO
            position.seq, position.updated_ms = action.seq, action.now
            action.positions[(order.category, order.symbol)] = position
            account.add(order.settle_coin, realised)
            account.cum_realised[order.settle_coin] = (
                account.cum_realised.get(order.settle_coin, ZERO) + realised
            )
            if order.held and leaves_before:
                released = order.held if qty >= leaves_before else money(order.held * qty / leaves_before)
                order.held -= released
                account.hold(order.settle_coin, -released)
        order.cum_exec_qty += qty
        order.cum_exec_value += value
        order.cum_exec_fee += fee
        # An order by value (spot, quote coin) is done when its amount is; others by quantity.
        done = order.cum_exec_value >= order.qty if order.quote_unit else order.cum_exec_qty >= order.qty
        if done:
            order.status = OrderStatus.FILLED
            self._finish(action, order)
        else:
            order.status = OrderStatus.PARTIALLY_FILLED
        self._touch(action, order)
        fill = Fill(
            user_id=account.user_id,
            category=order.category,
            symbol=order.symbol,
            exec_id=self._new_id(),
            order_id=order.order_id,
            order_link_id=order.order_link_id,
            side=order.side,
            order_type=order.order_type,
            order_price=order.price,
            order_qty=order.qty,
            leaves_qty=order.leaves_qty,
            price=price,
            qty=qty,
            value=value,
            fee=fee,
            fee_rate=rate,
            fee_currency=fee_coin,
            is_maker=is_maker,
            closed_size=closed,
            mark_price=market.last_price,
            seq=action.seq,
            exec_ms=action.now,
            number=len(account.executions),
        )
        account.executions.append(fill)
        action.fills.append(fill)

    @staticmethod
    def _spot_fill(
        account: Account, order: FakeOrder, price: Decimal, qty: Decimal, value: Decimal, rate: Decimal
    ) -> tuple[Decimal, str]:
        """Move the coins of a spot fill; the fee comes off what the account receives."""
        if order.side is Side.BUY:
            fee = money(qty * rate)
            account.add(order.settle_coin, -value)
            account.add(order.base_coin, qty - fee)
            spent, spent_coin = value, order.settle_coin
            if order.price is not None:
                spent = qty * order.price  # a limit buy held its own price
            received_fee = (fee, order.base_coin)
        else:
            fee = money(value * rate)
            account.add(order.base_coin, -qty)
            account.add(order.settle_coin, value - fee)
            spent, spent_coin = qty, order.base_coin
            received_fee = (fee, order.settle_coin)
        released = min(order.held, spent)
        order.held -= released
        account.hold(spent_coin, -released)
        return received_fee

    def _touch(self, action: _Action, order: FakeOrder) -> None:
        if order.order_id not in action.orders:
            # Every change of an order gets a later updatedTime: its states can always be ordered.
            order.updated_ms = max(action.now, order.updated_ms + 1)
            action.orders[order.order_id] = order

    def _finish(self, action: _Action, order: FakeOrder) -> None:
        """``order`` reached a final status: release what it held, take it off the book."""
        if order.held:
            coin = (
                order.base_coin
                if order.category is Category.SPOT and order.side is Side.SELL
                else order.settle_coin
            )
            action.account.hold(coin, -order.held)
            order.held = ZERO
        action.account.closed(order)
        market = self.markets.get((order.category, order.symbol))
        if market is not None:
            market.resting.pop(order.order_id, None)

    def _close(
        self,
        action: _Action,
        order: FakeOrder,
        status: OrderStatus,
        *,
        cancel_type: str = "UNKNOWN",
        reject_reason: str = "EC_NoError",
    ) -> None:
        order.status, order.cancel_type, order.reject_reason = status, cancel_type, reject_reason
        self._finish(action, order)
        self._touch(action, order)
        if order.category is not Category.SPOT:
            self._note_position(action, order)

    def _note_position(self, action: _Action, order: FakeOrder) -> None:
        # Bybit pushes the position on every create, amend and cancel, changed or not.
        account = action.account
        position = account.position(order.category, order.symbol, order.settle_coin, action.now)
        action.positions[(order.category, order.symbol)] = position

    def _own(
        self, account: Account, category: Category, symbol: str, order_id: str | None, link_id: str | None
    ) -> FakeOrder:
        """The account's open order of ``symbol`` by id (orderId first), or Bybit's "does not exist"."""
        order = account.orders.get(order_id) if order_id else None
        if order is None and link_id:
            known = account.link_ids.get((category, link_id))
            order = account.orders.get(known) if known else None
        if (
            order is None
            or order.symbol != symbol
            or order.category is not category
            or not order.status.is_open
        ):
            raise refuse(category, Refusal.ORDER_NOT_FOUND)
        return order

    def cancel(
        self, user_id: int, category: Category, symbol: str, order_id: str | None, link_id: str | None
    ) -> FakeOrder:
        with self._lock:
            account = self.accounts[user_id]
            order = self._own(account, category, symbol, order_id, link_id)
            action = _Action(account, self._now())
            self._close(action, order, self._cancelled(order), cancel_type="CancelByUser")
            self._publish(action)
            return order

    def cancel_all(
        self,
        user_id: int,
        category: Category,
        symbol: str | None,
        base_coin: str | None,
        settle_coin: str | None,
    ) -> list[FakeOrder]:
        with self._lock:
            account = self.accounts[user_id]
            # Spot and option cancel everything without a filter; linear and inverse need one.
            if category in (Category.LINEAR, Category.INVERSE) and not (symbol or base_coin or settle_coin):
                raise FakeError(10001, "params error: symbol, baseCoin or settleCoin is required")
            chosen = [
                order
                for order in account.open_orders.values()
                if order.category is category
                and (symbol or order.symbol) == order.symbol
                and (base_coin or order.base_coin) == order.base_coin
                and (settle_coin or order.settle_coin) == order.settle_coin
            ]
            action = _Action(account, self._now())
            for order in chosen:
                self._close(action, order, self._cancelled(order), cancel_type="CancelByUser")
            self._publish(action)
            return chosen

    def amend(
        self,
        user_id: int,
        category: Category,
        symbol: str,
        order_id: str | None,
        link_id: str | None,
        qty: Decimal | None,
        price: Decimal | None,
    ) -> FakeOrder:
        with self._lock:
            account = self.accounts[user_id]
            order = self._own(account, category, symbol, order_id, link_id)
            new_qty = qty if qty is not None else order.qty
            new_price = price if price is not None else order.price
            if (new_qty, new_price) == (order.qty, order.price):
                raise refuse(category, Refusal.UNCHANGED)
            if new_qty <= order.cum_exec_qty:
                raise refuse(category, Refusal.QTY_NOT_ABOVE_FILLED)
            rules, _, _ = self.rules(category, symbol)
            market = self.market(category, symbol)
            amended = OrderRequest(
                symbol=symbol,
                side=order.side,
                order_type=order.order_type,
                qty=new_qty,
                price=new_price,
                order_link_id=order.order_link_id or "amendment",
            )
            broken = rules.check(amended)
            if broken is not None:
                raise FakeError(broken.ret_code, broken.ret_msg)
            before = (order.qty, order.price, order.held)
            self._release(account, order)
            order.qty, order.price = new_qty, new_price
            try:
                self._hold_rest(account, order, market)
            except FakeError:
                order.qty, order.price, order.held = before
                account.hold(self._held_coin(order), order.held)
                raise
            action = _Action(account, self._now())
            self._touch(action, order)
            if category is not Category.SPOT:
                self._note_position(action, order)
            self._take(action, order, market)
            self._publish(action)
            return order

    @staticmethod
    def _held_coin(order: FakeOrder) -> str:
        return (
            order.base_coin
            if order.category is Category.SPOT and order.side is Side.SELL
            else order.settle_coin
        )

    def _release(self, account: Account, order: FakeOrder) -> None:
        account.hold(self._held_coin(order), -order.held)
        order.held = ZERO

    def _hold_rest(self, account: Account, order: FakeOrder, market: Market) -> None:
        """Hold what the unfilled rest of an amended order needs (refused when it is too much)."""
        assert order.price is not None
        rest = order.qty - order.cum_exec_qty
        if order.category is Category.SPOT:
            need = rest * order.price if order.side is Side.BUY else rest
        else:
            position = account.positions.get((order.category, order.symbol))
            closable = ZERO if position is None else position.closable(order.side)
            need = money(max(ZERO, rest - closable) * order.price / DEFAULT_LEVERAGE)
        coin = self._held_coin(order)
        spare = account.balance(coin) - account.held.get(coin, ZERO)
        if order.category is not Category.SPOT:
            spare = self._available(account, coin)
        if need > spare:
            raise refuse(order.category, Refusal.INSUFFICIENT_BALANCE)
        order.held = need
        account.hold(coin, need)

    # -- the market moves ---------------------------------------------------------------------------

    def set_price(self, category: Category, symbol: str, price: Decimal) -> None:
        """Move a market's last price; the resting orders it reaches fill (one tick's worth)."""
        with self._lock:
            market = self.market(category, symbol)
            if price <= ZERO or price % market.rules.tick_size:
                raise ValueError(
                    f"{price} is not a positive multiple of the tick size {market.rules.tick_size}"
                )
            market.last_price = price
            self._fill_crossed([market])

    def set_liquidity(self, category: Category, symbol: str, level_qty: Decimal) -> None:
        with self._lock:
            self.market(category, symbol).level_qty = level_qty

    def tick(self, category: Category | None = None, symbol: str | None = None) -> None:
        """One round of fills: every resting order the price has reached fills up to a level's size."""
        with self._lock:
            chosen = [
                market
                for (market_category, market_symbol), market in self.markets.items()
                if category in (None, market_category) and symbol in (None, market_symbol)
            ]
            self._fill_crossed(chosen)

    def _fill_crossed(self, markets: Iterable[Market]) -> None:
        actions: dict[int, _Action] = {}
        now = self._now()
        for market in markets:
            for order in market.crossed():
                account = self.accounts[order.user_id]
                action = actions.setdefault(order.user_id, _Action(account, now))
                assert order.price is not None
                self._execute(
                    action, order, market, order.price, min(order.leaves_qty, market.level_qty), is_maker=True
                )
        for action in actions.values():
            self._publish(action)

    def walk(self, rng: random.Random, max_ticks: int) -> None:
        """Each market's price takes a random step of up to ``max_ticks`` ticks; what it reaches fills."""
        with self._lock:
            for market in self.markets.values():
                step = market.rules.tick_size * rng.randint(-max_ticks, max_ticks)
                market.last_price = max(market.rules.tick_size * 10, market.last_price + step)
            self._fill_crossed(list(self.markets.values()))

    def fill(
        self, user_id: int, category: Category, order_id: str | None, link_id: str | None, qty: Decimal | None
    ) -> FakeOrder:
        """Fill a resting order (all that is left, or ``qty`` of it) at its price, as a maker."""
        with self._lock:
            account = self.accounts[user_id]
            known = order_id or account.link_ids.get((category, link_id or ""))
            order = account.orders.get(known or "")
            if order is None or not order.status.is_open or order.price is None:
                raise ValueError("no such open limit order")
            size = order.leaves_qty if qty is None else qty
            if not ZERO < size <= order.leaves_qty:
                raise ValueError(f"cannot fill {size} of an order with {order.leaves_qty} left")
            action = _Action(account, self._now())
            self._execute(
                action, order, self.market(category, order.symbol), order.price, size, is_maker=True
            )
            self._publish(action)
            return order

    # -- what Bybit keeps, as its queries answer ----------------------------------------------------

    def find(
        self, user_id: int, category: Category, order_id: str | None, link_id: str | None
    ) -> FakeOrder | None:
        with self._lock:
            return retention.find(self.accounts[user_id], category, order_id, link_id)

    def realtime_orders(
        self, user_id: int, category: Category, filters: dict[str, str], closed: bool
    ) -> list[FakeOrder]:
        with self._lock:
            return retention.realtime_orders(self.accounts[user_id], category, filters, closed)

    def history_orders(
        self, user_id: int, category: Category, filters: dict[str, str], start: int, end: int
    ) -> list[FakeOrder]:
        with self._lock:
            return retention.history_orders(
                self.accounts[user_id], category, filters, start, end, self._now()
            )

    def executions(
        self, user_id: int, category: Category, filters: dict[str, str], start: int, end: int
    ) -> list[Fill]:
        with self._lock:
            return retention.executions(self.accounts[user_id], category, filters, start, end, self._now())

    def positions(
        self, user_id: int, category: Category, symbol: str | None, settle_coin: str | None
    ) -> list[FakePosition]:
        with self._lock:
            account = self.accounts[user_id]
            if symbol:
                _, settle, _ = self.rules(category, symbol)
                return [account.position(category, symbol, settle, self._now())]
            return [
                position
                for (position_category, _), position in account.positions.items()
                if position_category is category
                and position.size
                and settle_coin in (None, "", position.settle_coin)
            ]

    def wallet(self, user_id: int, coins: list[str] | None) -> dict[str, Any]:
        with self._lock:
            return wallet_view(self.accounts[user_id], self.marks(), coins)

    def forget_closed_orders(self) -> None:
        with self._lock:
            for account in self.accounts.values():
                account.recent_closed.clear()

    # -- pushes -----------------------------------------------------------------------------------

    def _publish(self, action: _Action) -> None:
        account = action.account
        if self.sink is None or not (action.orders or action.fills or action.positions):
            return
        if not self.audience(account.user_id):
            return
        events: list[PrivateEvent] = []

        def push(kind: str, category: Category | None, data: list[dict[str, Any]]) -> None:
            events.append(
                PrivateEvent(account.user_id, kind, category, data, account.next_push_ms(action.now))
            )

        for category in Category:
            orders = [
                order_view(o, with_category=True) for o in action.orders.values() if o.category is category
            ]
            if orders:
                push("order", category, orders)
            fills = [execution_view(f, with_category=True) for f in action.fills if f.category is category]
            if fills:
                push("execution", category, fills)
            positions = [
                position_view(p, self.markets[(category, p.symbol)].last_price, with_category=True)
                for (position_category, _), p in action.positions.items()
                if position_category is category
            ]
            if positions:
                push("position", category, positions)
        push("wallet", None, [wallet_view(account, self.marks())])
        self.sink(events)

    def _new_id(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
