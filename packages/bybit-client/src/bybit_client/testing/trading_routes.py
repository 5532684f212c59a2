"""The fake exchange's trading endpoints: what each request means to the ``TradingEngine`` and the
answer Bybit would give (orders, batches, lookups, history, executions, positions, wallet)."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bybit_client.enums import Category, MarketUnit, OrderType, Side, TimeInForce
from bybit_client.orders import OrderRequest, check_order_link_id, new_order_link_id
from bybit_client.testing import params as read
from bybit_client.testing.accounts import FakeOrder
from bybit_client.testing.engine import TradingEngine
from bybit_client.testing.exchange import FakeKey
from bybit_client.testing.limits import Allowance
from bybit_client.testing.params import Params
from bybit_client.testing.refusals import FakeError
from bybit_client.testing.shapes import execution_view, order_view, position_view

TOO_MANY_VISITS = (10006, "Too many visits!")
Route = Callable[[Params, FakeKey, Allowance | None], Any]


@dataclass(frozen=True)
class WithExtInfo:
    """An answer whose envelope also carries ``retExtInfo`` (a batch's per-order codes)."""

    result: Any
    ext_info: Any


def _term(params: Params, name: str, term: type[Any]) -> Any:
    value = read.text(params, name)
    if value is None:
        return None
    try:
        return term(value)
    except ValueError:
        raise FakeError(10001, f"params error: {name} invalid") from None


def order_request(params: Params) -> tuple[OrderRequest, bool]:
    """The order a create request asks for, and whether it came without an orderLinkId."""
    link_id = read.text(params, "orderLinkId")
    if link_id is not None:
        try:
            check_order_link_id(link_id)
        except ValueError as error:
            raise FakeError(10001, f"params error: {error}") from None
    side, order_type = _term(params, "side", Side), _term(params, "orderType", OrderType)
    qty, price = read.decimal(params, "qty"), read.decimal(params, "price")
    if side is None or order_type is None or qty is None:
        raise FakeError(10001, "params error: side, orderType and qty are required")
    if order_type is OrderType.LIMIT and price is None:
        raise FakeError(10001, "params error: price is required for a limit order")
    request = OrderRequest(
        symbol=read.required(params, "symbol"),
        side=side,
        order_type=order_type,
        qty=qty,
        price=price,
        time_in_force=_term(params, "timeInForce", TimeInForce),
        order_link_id=link_id or new_order_link_id(),
        reduce_only=str(params.get("reduceOnly", "")).lower() == "true",
        market_unit=_term(params, "marketUnit", MarketUnit),
    )
    return request, link_id is None


def _ack(order: FakeOrder) -> dict[str, str]:
    return {"orderId": order.order_id, "orderLinkId": order.order_link_id}


def _batch_row(category: Category, order: FakeOrder | None, symbol: str) -> dict[str, str]:
    if order is None:
        return {
            "category": category.value,
            "symbol": symbol,
            "orderId": "",
            "orderLinkId": "",
            "createAt": "",
        }
    return {
        "category": category.value,
        "symbol": order.symbol,
        **_ack(order),
        "createAt": str(order.created_ms),
    }


class TradingRoutes:
    """The handlers, each ``(params, key, allowance) -> result``: the key's account trades."""

    def __init__(self, engine: TradingEngine, now_ms: Callable[[], int]) -> None:
        self.engine = engine
        self.now_ms = now_ms

    def routes(self) -> dict[tuple[str, str], Route]:
        return {
            ("POST", "/v5/order/create"): self.create,
            ("POST", "/v5/order/amend"): self.amend,
            ("POST", "/v5/order/cancel"): self.cancel,
            ("POST", "/v5/order/cancel-all"): self.cancel_all,
            ("POST", "/v5/order/create-batch"): self.create_batch,
            ("POST", "/v5/order/cancel-batch"): self.cancel_batch,
            ("GET", "/v5/order/realtime"): self.realtime,
            ("GET", "/v5/order/history"): self.history,
            ("GET", "/v5/execution/list"): self.executions,
            ("GET", "/v5/position/list"): self.positions,
            ("GET", "/v5/account/wallet-balance"): self.wallet,
        }

    # -- orders -----------------------------------------------------------------------------------

    def create(self, params: Params, key: FakeKey, allowance: Allowance | None) -> Any:
        category = read.category(params)
        request, anonymous = order_request(params)
        return _ack(self.engine.place(key.user_id, category, request, anonymous=anonymous))

    def amend(self, params: Params, key: FakeKey, allowance: Allowance | None) -> Any:
        category = read.category(params)
        order = self.engine.amend(
            key.user_id,
            category,
            read.required(params, "symbol"),
            *self._ids(params),
            read.decimal(params, "qty"),
            read.decimal(params, "price"),
        )
        return _ack(order)

    def cancel(self, params: Params, key: FakeKey, allowance: Allowance | None) -> Any:
        category = read.category(params)
        order = self.engine.cancel(key.user_id, category, read.required(params, "symbol"), *self._ids(params))
        return _ack(order)

    @staticmethod
    def _ids(params: Params) -> tuple[str | None, str | None]:
        order_id, link_id = read.text(params, "orderId"), read.text(params, "orderLinkId")
        if not (order_id or link_id):
            raise FakeError(10001, "params error: OrderId or orderLinkId is required")
        return order_id, link_id

    def cancel_all(self, params: Params, key: FakeKey, allowance: Allowance | None) -> Any:
        category = read.category(params)
        cancelled = self.engine.cancel_all(
            key.user_id,
            category,
            read.text(params, "symbol"),
            read.text(params, "baseCoin"),
            read.text(params, "settleCoin"),
        )
        return {"list": [_ack(order) for order in cancelled], "success": "1"}

    def _batch(
        self, params: Params, allowance: Allowance | None, one: Callable[[Category, Params], FakeOrder]
    ) -> WithExtInfo:
        category = read.category(params)
        items = params.get("request")
        if not isinstance(items, list) or not items or not all(isinstance(item, dict) for item in items):
            raise FakeError(10001, "params error: request must be a list of orders")
        granted = len(items) if allowance is None else allowance.granted
        rows, codes = [], []
        for index, item in enumerate(items):
            fields = {str(name): _scalar(value) for name, value in item.items()}
            symbol = str(fields.get("symbol", ""))
            if index >= granted:  # past the limit: this order fails, the earlier ones went through
                code, message = TOO_MANY_VISITS
                rows.append(_batch_row(category, None, symbol))
                codes.append({"code": code, "msg": message})
                continue
            try:
                order = one(category, fields)
            except FakeError as error:
                rows.append(_batch_row(category, None, symbol))
                codes.append({"code": error.ret_code, "msg": error.ret_msg})
            else:
                rows.append(_batch_row(category, order, symbol))
                codes.append({"code": 0, "msg": "OK"})
        return WithExtInfo({"list": rows}, {"list": codes})

    def create_batch(self, params: Params, key: FakeKey, allowance: Allowance | None) -> Any:

        def one(category: Category, fields: Params) -> FakeOrder:
            request, anonymous = order_request(fields)
            return self.engine.place(key.user_id, category, request, anonymous=anonymous)

        return self._batch(params, allowance, one)

    def cancel_batch(self, params: Params, key: FakeKey, allowance: Allowance | None) -> Any:

        def one(category: Category, fields: Params) -> FakeOrder:
            return self.engine.cancel(
                key.user_id, category, read.required(fields, "symbol"), *self._ids(fields)
            )

        return self._batch(params, allowance, one)

    # -- what Bybit keeps ---------------------------------------------------------------------------

    def realtime(self, params: Params, key: FakeKey, allowance: Allowance | None) -> Any:
        category = read.category(params)
        filters = _filters(params)
        by_id = filters.get("orderId") or filters.get("orderLinkId")
        if category is Category.LINEAR and not (
            by_id or filters.get("symbol") or filters.get("baseCoin") or filters.get("settleCoin")
        ):
            raise FakeError(
                10001, "Missing some parameters that must be filled in: symbol, baseCoin or settleCoin"
            )
        closed = read.integer(params, "openOnly", 0) == 1
        orders = self.engine.realtime_orders(key.user_id, category, filters, closed)
        return self._orders_page(category, orders, params)

    def history(self, params: Params, key: FakeKey, allowance: Allowance | None) -> Any:
        category = read.category(params)
        start, end = read.time_window(params, self.now_ms())
        orders = self.engine.history_orders(key.user_id, category, _filters(params), start, end)
        return self._orders_page(category, orders, params)

    @staticmethod
    def _orders_page(category: Category, orders: list[FakeOrder], params: Params) -> Any:
        page, cursor = read.keyset_page(
            orders, lambda order: (order.created_ms, order.order_id), params, 20, 50
        )
        return {
            "category": category.value,
            "list": [order_view(order, with_category=False) for order in page],
            "nextPageCursor": cursor,
        }

    def executions(self, params: Params, key: FakeKey, allowance: Allowance | None) -> Any:
        category = read.category(params)
        start, end = read.time_window(params, self.now_ms())
        fills = self.engine.executions(key.user_id, category, _filters(params), start, end)
        page, cursor = read.keyset_page(fills, lambda fill: fill.sort_key, params, 50, 100)
        return {
            "category": category.value,
            "list": [execution_view(fill, with_category=False) for fill in page],
            "nextPageCursor": cursor,
        }

    def positions(self, params: Params, key: FakeKey, allowance: Allowance | None) -> Any:
        category = read.category(params, (Category.LINEAR, Category.INVERSE, Category.OPTION))
        symbol, settle = read.text(params, "symbol"), read.text(params, "settleCoin")
        if category is Category.LINEAR and not (symbol or settle):
            raise FakeError(10001, "Missing some parameters that must be filled in: symbol or settleCoin")
        positions = self.engine.positions(key.user_id, category, symbol, settle)
        marks = self.engine.marks()
        page, cursor = read.offset_page(positions, params, 20, 200)
        return {
            "category": category.value,
            "list": [
                position_view(
                    position, marks.get((category, position.symbol), position.avg_price), with_category=False
                )
                for position in page
            ],
            "nextPageCursor": cursor,
        }

    def wallet(self, params: Params, key: FakeKey, allowance: Allowance | None) -> Any:
        if params.get("accountType") != "UNIFIED":
            raise FakeError(10001, "accountType only support UNIFIED.")
        coins = [coin for coin in str(params.get("coin", "")).split(",") if coin]
        return {"list": [self.engine.wallet(key.user_id, coins or None)]}


def _filters(params: Params) -> dict[str, str]:
    names = ("symbol", "baseCoin", "settleCoin", "orderId", "orderLinkId", "orderStatus")
    return {name: value for name in names if (value := read.text(params, name)) is not None}


def _scalar(value: object) -> object:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, list | dict) else str(value)
