"""The trading endpoints as calls: orders (create, amend, cancel, cancel-all, batches), their lookups
(open and recent orders, history, executions in 7-day windows), positions and instrument rules.

An order request is an ``OrderCall``: the call and what identifies the order (its category and
``orderLinkId``), so that ``resolution`` can turn any answer, or none, into an outcome and find the
order again. Listings are ``Pager``s; history and executions walk a time range in Bybit's windows
of at most 7 days, newest window first, each page by cursor (so every listing is newest first).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from bybit_client.endpoints import Call, Pager, follow_cursor, ms
from bybit_client.enums import Category, ExecType, MarketUnit, OrderStatus, OrderType, Side, TimeInForce
from bybit_client.models import (
    Execution,
    ExecutionsPage,
    InstrumentsPage,
    Order,
    OrderAck,
    OrdersPage,
    Position,
    PositionsPage,
)
from bybit_client.orders import CancelRequest, OrderRequest, check_order_link_id
from bybit_client.rules import InstrumentRules

T = TypeVar("T")

REALTIME = "/v5/order/realtime"
# Bybit's longest time range of one history or executions query (``endTime - startTime``).
WINDOW_MS = 7 * 86_400_000
# Orders per batch request. Bybit takes up to 20 (spot 10: docs/v5/order/batch-place.mdx), but for
# linear, inverse and spot a batch spends one unit of the per-account limit per order, 10 a second
# by default (docs/v5/rate-limit/rate-limit.mdx, "batch endpoints": "1-10 orders/request"): a batch
# of 20 would see half its orders refused in a fresh second.
BATCH_SIZES: dict[Category, int] = {
    Category.SPOT: 10,
    Category.LINEAR: 10,
    Category.INVERSE: 10,
    Category.OPTION: 20,
}


@dataclass(frozen=True)
class OrderRef:
    """What finds an order again: its category and ids (``request``: a create's order, to tell it
    from another order that took the same ``orderLinkId``)."""

    category: Category
    order_id: str | None = None
    order_link_id: str | None = None
    request: OrderRequest | None = None


@dataclass(frozen=True)
class OrderCall(Generic[T]):
    """An order request and the order it is about."""

    call: Call[T]
    ref: OrderRef


class BatchItem(BaseModel):
    """One item of a batch answer: Bybit's code and message for it, and its ack when it was taken."""

    model_config = ConfigDict(frozen=True)

    code: int
    msg: str = ""
    ack: OrderAck | None = None


@dataclass(frozen=True)
class BatchCall:
    """One batch request of at most ``BATCH_SIZES[category]`` orders; ``refs`` in their order."""

    call: Call[list[BatchItem]]
    refs: tuple[OrderRef, ...]


def _batch_items(data: Any) -> list[BatchItem]:
    acks = (data["result"] or {}).get("list") or []
    codes = (data["retExtInfo"] or {}).get("list") or [{"code": 0, "msg": "OK"}] * len(acks)
    items = []
    for ack, code in zip(acks, codes, strict=True):
        taken = int(code.get("code", 0)) == 0 and ack.get("orderId")
        items.append(
            BatchItem(
                code=int(code.get("code", 0)),
                msg=str(code.get("msg", "")),
                ack=OrderAck.model_validate(ack) if taken else None,
            )
        )
    return items


def create_order(
    category: Category | str,
    symbol: str,
    side: Side | str,
    order_type: OrderType | str,
    qty: Decimal | str,
    *,
    price: Decimal | str | None = None,
    time_in_force: TimeInForce | str | None = None,
    order_link_id: str | None = None,
    reduce_only: bool | None = None,
    market_unit: MarketUnit | str | None = None,
    extra: Mapping[str, object] | None = None,
) -> OrderCall[OrderAck]:
    """Place an order; its outcome is accepted, rejected or unknown (``OrderOutcome``).

    It always carries an ``orderLinkId`` (made here when not given; a malformed one is a
    ``ValueError``, nothing sent): what makes a retry after an unknown outcome safe (Bybit refuses
    a second order with the same id) and what finds the order (``find_order``). A retry, or a
    repeat of the same create, that meets that refusal reports the order the id already names.
    """
    request = OrderRequest(
        symbol=symbol,
        side=side,
        order_type=order_type,
        qty=qty,
        price=price,
        time_in_force=time_in_force,
        reduce_only=reduce_only,
        market_unit=market_unit,
        extra=tuple((extra or {}).items()),
        **({"order_link_id": order_link_id} if order_link_id is not None else {}),
    )
    category = Category(category)
    params = {"category": category, **request.params()}
    call = Call("POST", "/v5/order/create", params, OrderAck.model_validate, signed=True, retry_safe=True)
    return OrderCall(call, OrderRef(category, order_link_id=request.order_link_id, request=request))


def amend_order(
    category: Category | str,
    symbol: str,
    *,
    order_id: str | None = None,
    order_link_id: str | None = None,
    qty: Decimal | str | None = None,
    price: Decimal | str | None = None,
    extra: Mapping[str, object] | None = None,
) -> OrderCall[OrderAck]:
    """Change an open order's quantity or price (by ``order_id`` or ``order_link_id``). Not sent
    again after an unknown outcome: look the order up instead."""
    _check_ids(order_id, order_link_id)
    params = {
        **(extra or {}),
        "category": Category(category),
        "symbol": symbol,
        "orderId": order_id,
        "orderLinkId": order_link_id,
        "qty": qty,
        "price": price,
    }
    call = Call("POST", "/v5/order/amend", params, OrderAck.model_validate, signed=True, retry_safe=False)
    return OrderCall(call, OrderRef(Category(category), order_id=order_id, order_link_id=order_link_id))


def cancel_order(
    category: Category | str,
    symbol: str,
    *,
    order_id: str | None = None,
    order_link_id: str | None = None,
) -> OrderCall[OrderAck]:
    """Cancel an open order (by ``order_id`` or ``order_link_id``). Not sent again after an unknown
    outcome (a second cancel of a cancelled order is refused, 110001): look the order up instead."""
    _check_ids(order_id, order_link_id)
    params = {
        "category": Category(category),
        "symbol": symbol,
        "orderId": order_id,
        "orderLinkId": order_link_id,
    }
    call = Call("POST", "/v5/order/cancel", params, OrderAck.model_validate, signed=True, retry_safe=False)
    return OrderCall(call, OrderRef(Category(category), order_id=order_id, order_link_id=order_link_id))


def _acks(result: Any) -> list[OrderAck]:
    return [OrderAck.model_validate(row) for row in (result or {}).get("list") or []]


def cancel_all_orders(
    category: Category | str,
    *,
    symbol: str | None = None,
    base_coin: str | None = None,
    settle_coin: str | None = None,
) -> OrderCall[list[OrderAck]]:
    """Cancel every open order of ``category`` (linear and inverse need a symbol, base or settle
    coin). Safe to repeat: a second run finds nothing left to cancel."""
    params = {
        "category": Category(category),
        "symbol": symbol,
        "baseCoin": base_coin,
        "settleCoin": settle_coin,
    }
    call = Call("POST", "/v5/order/cancel-all", params, _acks, signed=True, retry_safe=True)
    return OrderCall(call, OrderRef(Category(category)))


def _batches(
    path: str,
    category: Category | str,
    requests: Sequence[OrderRequest] | Sequence[CancelRequest],
    retry_safe: bool,
) -> list[BatchCall]:
    category = Category(category)
    size = BATCH_SIZES[category]
    calls = []
    for start in range(0, len(requests), size):
        chunk = requests[start : start + size]
        params = {"category": category, "request": [request.params() for request in chunk]}
        call = Call(
            "POST", path, params, _batch_items, signed=True, retry_safe=retry_safe, with_ext_info=True
        )
        calls.append(BatchCall(call, tuple(_ref(category, request) for request in chunk)))
    return calls


def _ref(category: Category, request: OrderRequest | CancelRequest) -> OrderRef:
    if isinstance(request, OrderRequest):
        return OrderRef(category, order_link_id=request.order_link_id, request=request)
    return OrderRef(category, order_id=request.order_id, order_link_id=request.order_link_id)


def create_orders(category: Category | str, orders: Sequence[OrderRequest]) -> list[BatchCall]:
    """Place several orders, in batches of ``BATCH_SIZES`` (10; option 20); one outcome per order,
    in their order. Each carries its ``orderLinkId``, so a batch is sent again after an unknown
    outcome like a single create."""
    return _batches("/v5/order/create-batch", category, orders, retry_safe=True)


def cancel_orders(category: Category | str, cancels: Sequence[CancelRequest]) -> list[BatchCall]:
    """Cancel several orders, in batches of Bybit's size; one outcome per order, in their order."""
    return _batches("/v5/order/cancel-batch", category, cancels, retry_safe=False)


def _check_ids(order_id: str | None, order_link_id: str | None) -> None:
    if not (order_id or order_link_id):
        raise ValueError("the order needs order_id or order_link_id")
    if order_link_id is not None:
        check_order_link_id(order_link_id)


def _query(category: Category | str, filters: Mapping[str, object]) -> dict[str, object]:
    """A query's parameters: the category, then the filters given, in Bybit's (camelCase) names."""
    return {"category": Category(category), **{_camel(name): value for name, value in filters.items()}}


def _listing(path: str, page: type[Any], category: Category | str, **filters: object) -> Pager[Any, Any]:
    """Every page of a cursor-paged listing."""
    first = Call("GET", path, _query(category, filters), page.model_validate, signed=True)
    return Pager(first, follow_cursor, lambda current: current.items)


def open_orders_pager(
    category: Category | str,
    *,
    symbol: str | None = None,
    base_coin: str | None = None,
    settle_coin: str | None = None,
    order_id: str | None = None,
    order_link_id: str | None = None,
    limit: int | None = None,
) -> Pager[OrdersPage, Order]:
    """Open orders (New, PartiallyFilled, Untriggered), all pages, newest first. Linear needs a
    symbol, base or settle coin (or an order id)."""
    return _listing(
        REALTIME,
        OrdersPage,
        category,
        symbol=symbol,
        base_coin=base_coin,
        settle_coin=settle_coin,
        order_id=order_id,
        order_link_id=order_link_id,
        open_only=0,
        limit=limit,
    )


def recent_closed_orders_pager(
    category: Category | str,
    *,
    symbol: str | None = None,
    base_coin: str | None = None,
    settle_coin: str | None = None,
    limit: int | None = None,
) -> Pager[OrdersPage, Order]:
    """The most recent closed orders Bybit keeps for the realtime query (at most 500 per account and
    category, emptied when Bybit restarts: ``order_history`` keeps them longer)."""
    return _listing(
        REALTIME,
        OrdersPage,
        category,
        symbol=symbol,
        base_coin=base_coin,
        settle_coin=settle_coin,
        open_only=1,
        limit=limit,
    )


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.capitalize() for word in rest)


def _windows(
    path: str,
    page: type[Any],
    category: Category | str,
    start: datetime | int,
    end: datetime | int,
    **filters: object,
) -> Pager[Any, Any]:
    """Every page of ``path`` for [start, end], in windows of at most 7 days, the newest first."""
    params = _query(category, filters)
    first_ms, last_ms = _required_ms(start), _required_ms(end)
    if first_ms > last_ms:
        raise ValueError("the range starts after it ends")

    def window(window_end: int) -> Call[Any]:
        window_start = max(first_ms, window_end - WINDOW_MS)
        return Call(
            "GET",
            path,
            {**params, "startTime": window_start, "endTime": window_end},
            page.model_validate,
            signed=True,
        )

    def follow(call: Call[Any], current: Any) -> Call[Any] | None:
        following = follow_cursor(call, current)
        if following is not None:
            return following
        window_start = call.params["startTime"]
        assert isinstance(window_start, int)
        return window(window_start - 1) if window_start > first_ms else None

    return Pager(window(last_ms), follow, lambda current: current.items)


def order_history_pager(
    category: Category | str,
    start: datetime | int,
    end: datetime | int,
    *,
    symbol: str | None = None,
    base_coin: str | None = None,
    settle_coin: str | None = None,
    order_id: str | None = None,
    order_link_id: str | None = None,
    order_status: OrderStatus | str | None = None,
    limit: int | None = None,
) -> Pager[OrdersPage, Order]:
    """Orders created in [start, end] that Bybit still keeps, newest first, window by window.

    Bybit's history keeps every status for a day, every closed status but Cancelled, Rejected and
    Deactivated for 7 days, and only orders with fills beyond: an order missing here may still have
    existed.
    """
    return _windows(
        "/v5/order/history",
        OrdersPage,
        category,
        start,
        end,
        symbol=symbol,
        base_coin=base_coin,
        settle_coin=settle_coin,
        order_id=order_id,
        order_link_id=order_link_id,
        order_status=OrderStatus(order_status) if order_status else None,
        limit=limit,
    )


def executions_pager(
    category: Category | str,
    start: datetime | int,
    end: datetime | int,
    *,
    symbol: str | None = None,
    base_coin: str | None = None,
    settle_coin: str | None = None,
    order_id: str | None = None,
    order_link_id: str | None = None,
    exec_type: ExecType | str | None = None,
    limit: int | None = None,
) -> Pager[ExecutionsPage, Execution]:
    """Executions (fills) in [start, end], newest first, window by window; ``exec_id`` is unique."""
    return _windows(
        "/v5/execution/list",
        ExecutionsPage,
        category,
        start,
        end,
        symbol=symbol,
        base_coin=base_coin,
        settle_coin=settle_coin,
        order_id=order_id,
        order_link_id=order_link_id,
        exec_type=ExecType(exec_type) if exec_type else None,
        limit=limit,
    )


def _required_ms(value: datetime | int) -> int:
    moment = ms(value)
    assert moment is not None
    return moment


def positions_pager(
    category: Category | str,
    *,
    symbol: str | None = None,
    base_coin: str | None = None,
    settle_coin: str | None = None,
    limit: int | None = None,
) -> Pager[PositionsPage, Position]:
    """Positions: the symbol's (even empty) when given one, else every open position of the settle
    coin (linear needs one of them)."""
    return _listing(
        "/v5/position/list",
        PositionsPage,
        category,
        symbol=symbol,
        base_coin=base_coin,
        settle_coin=settle_coin,
        limit=limit,
    )


def order_lookup(
    category: Category | str, *, order_id: str | None = None, order_link_id: str | None = None
) -> tuple[Call[OrdersPage], Call[OrdersPage]]:
    """The two queries that find one order: the realtime one (open and recently closed orders), then
    the history (the last 7 days, as Bybit keeps it)."""
    _check_ids(order_id, order_link_id)
    ids = _query(category, {"order_id": order_id, "order_link_id": order_link_id})
    realtime = Call("GET", REALTIME, ids, OrdersPage.model_validate, signed=True)
    history = replace(realtime, path="/v5/order/history")
    return realtime, history


def instrument_rules(category: Category | str, symbol: str) -> Call[InstrumentRules | None]:
    """The order rules of one instrument (None when Bybit does not list it)."""

    def parse(result: Any) -> InstrumentRules | None:
        page = InstrumentsPage.model_validate(result)
        return InstrumentRules.from_instrument(page.items[0]) if page.items else None

    params = {"category": Category(category), "symbol": symbol}
    return Call("GET", "/v5/market/instruments-info", params, parse)
