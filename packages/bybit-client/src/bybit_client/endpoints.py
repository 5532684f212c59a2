"""Every endpoint as a ``Call``: method, path, parameters and the parser of its result.

The sync and async clients run the very same calls; only how the bytes travel differs. Their
methods are these functions, bound (``client_method``): the parameters and docstrings here are the
clients'.
"""

import inspect
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

from pydantic import TypeAdapter

from bybit_client.enums import Category, Interval, OrderType, Side, TimeInForce
from bybit_client.models import (
    ApiKeyInfo,
    Instrument,
    InstrumentsPage,
    Kline,
    Klines,
    Order,
    OrderAck,
    OrdersPage,
    ServerTime,
    Ticker,
    WalletBalance,
    klines_from_rows,
)
from bybit_client.signing import PreEncoded
from bybit_client.times import datetime_to_ms

T = TypeVar("T")
P = TypeVar("P")
I = TypeVar("I")  # noqa: E741
M = TypeVar("M", bound=Callable[..., Any])

KLINES_PAGE_LIMIT = 1000
ORDER_LINK_ID_MAX = 36


@dataclass(frozen=True)
class Call(Generic[T]):
    """One API call. ``retry_safe``: may be sent again when its outcome is unknown (timeout, 5xx)."""

    method: str
    path: str
    params: Mapping[str, object]
    parse: Callable[[Any], T]
    signed: bool = False
    retry_safe: bool = True
    # When a retry is refused as a duplicate (the earlier attempt went through after all), this
    # call fetches what the earlier attempt made, as its result.
    on_duplicate: "Callable[[], Call[T]] | None" = None


@dataclass(frozen=True)
class Pager(Generic[P, I]):
    """A paged listing: the first call, how to get the next call from a page, and a page's items."""

    first: Call[P]
    follow: Callable[[Call[P], P], Call[P] | None]
    items: Callable[[P], Sequence[I]]


def client_method(method: M, endpoint: Callable[..., Any]) -> M:
    """``method``, a client's send of what ``endpoint`` makes, described as ``endpoint`` is: its
    docstring and its parameters after the client's own. ``name_client_methods`` names it."""
    signature = inspect.signature(endpoint)
    client = inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY)
    method.__doc__ = endpoint.__doc__
    method.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[client, *signature.parameters.values()], return_annotation=inspect.Signature.empty
    )
    method.__endpoint__ = endpoint  # type: ignore[attr-defined]
    return method


def name_client_methods(client: type[T]) -> type[T]:
    """Name each of ``client``'s ``client_method`` methods after the attribute that holds it."""
    for name, value in vars(client).items():
        if hasattr(value, "__endpoint__"):
            value.__name__ = name
            value.__qualname__ = f"{client.__qualname__}.{name}"
    return client


def _ms(value: datetime | int | None) -> int | None:
    if value is None or isinstance(value, int):
        return value
    return datetime_to_ms(value)


def server_time() -> Call[ServerTime]:
    return Call("GET", "/v5/market/time", {}, ServerTime.model_validate)


def instruments_page(
    category: Category | str,
    *,
    symbol: str | None = None,
    status: str | None = None,
    base_coin: str | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> Call[InstrumentsPage]:
    """One page of instruments; ``cursor`` is a page's ``next_page_cursor``, sent back unchanged."""
    params = {
        "category": Category(category),
        "symbol": symbol,
        "status": status,
        "baseCoin": base_coin,
        "limit": limit,
        # Bybit returns cursors percent-encoded: they go back exactly as they came.
        "cursor": PreEncoded(cursor) if cursor else None,
    }
    return Call("GET", "/v5/market/instruments-info", params, InstrumentsPage.model_validate)


def _follow_cursor(call: Call[Any], page: InstrumentsPage | OrdersPage) -> Call[Any] | None:
    if not page.next_page_cursor:
        return None
    return replace(call, params={**call.params, "cursor": PreEncoded(page.next_page_cursor)})


def instruments_pager(
    category: Category | str,
    *,
    symbol: str | None = None,
    status: str | None = None,
    base_coin: str | None = None,
    limit: int | None = None,
) -> Pager[InstrumentsPage, Instrument]:
    """Every instrument of ``category``, following ``nextPageCursor`` page after page."""
    first = instruments_page(category, symbol=symbol, status=status, base_coin=base_coin, limit=limit)
    return Pager(first, _follow_cursor, lambda page: page.items)


_TICKERS = TypeAdapter(list[Ticker])


def tickers(category: Category | str, symbol: str | None = None) -> Call[list[Ticker]]:
    params = {"category": Category(category), "symbol": symbol}
    return Call("GET", "/v5/market/tickers", params, lambda result: _TICKERS.validate_python(result["list"]))


def klines(
    category: Category | str,
    symbol: str,
    interval: Interval | str,
    start: datetime | int | None = None,
    end: datetime | int | None = None,
    limit: int = 200,
) -> Call[Klines]:
    """Up to ``limit`` candles (the newest ones in [start, end]), oldest first."""
    category, interval = Category(category), Interval(interval)
    params = {
        "category": category,
        "symbol": symbol,
        "interval": interval,
        "start": _ms(start),
        "end": _ms(end),
        "limit": limit,
    }

    def parse(result: Any) -> Klines:
        # Bybit lists newest first; callers get oldest first.
        rows = klines_from_rows(reversed(result["list"]))
        return Klines.model_construct(category=category, symbol=symbol, interval=interval, items=rows)

    return Call("GET", "/v5/market/kline", params, parse)


def klines_range_pager(
    category: Category | str,
    symbol: str,
    interval: Interval | str,
    start: datetime | int,
    end: datetime | int,
) -> Pager[Klines, Kline]:
    """Every candle starting in [start, end], oldest first, fetched 1000 per request."""
    interval = Interval(interval)
    start_ms, end_ms = _ms(start), _ms(end)
    if start_ms is None or end_ms is None:
        raise ValueError("a klines range needs start and end")
    step = interval.milliseconds

    def window(from_ms: int) -> Call[Klines]:
        # A month has no fixed length, but 1000 months cover any real range in one window.
        to_ms = end_ms if step is None else min(end_ms, from_ms + (KLINES_PAGE_LIMIT - 1) * step)
        return klines(category, symbol, interval, from_ms, to_ms, KLINES_PAGE_LIMIT)

    def follow(call: Call[Klines], page: Klines) -> Call[Klines] | None:
        to_ms = call.params["end"]
        assert isinstance(to_ms, int)
        return window(to_ms + 1) if to_ms < end_ms else None

    return Pager(window(start_ms), follow, lambda page: page.items)


def wallet_balance(coin: str | Sequence[str] | None = None) -> Call[WalletBalance]:
    coins = coin if coin is None or isinstance(coin, str) else ",".join(coin)
    params = {"accountType": "UNIFIED", "coin": coins}
    return Call("GET", "/v5/account/wallet-balance", params, WalletBalance.model_validate, signed=True)


def api_key_info() -> Call[ApiKeyInfo]:
    return Call("GET", "/v5/user/query-api", {}, ApiKeyInfo.model_validate, signed=True)


def new_order_link_id() -> str:
    """A fresh client order id (32 hex characters, within Bybit's 36)."""
    return uuid.uuid4().hex


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
    extra: Mapping[str, object] | None = None,
) -> Call[OrderAck]:
    """Place an order. It always carries an ``orderLinkId`` (made here when not given), which is what
    makes a retry after an unknown outcome safe: Bybit refuses a second order with the same id."""
    link_id = order_link_id or new_order_link_id()
    if len(link_id) > ORDER_LINK_ID_MAX:
        raise ValueError(f"orderLinkId is longer than {ORDER_LINK_ID_MAX} characters")
    # ``extra`` goes first, so that nothing in it can drop or change the orderLinkId.
    params = {
        **(extra or {}),
        "category": Category(category),
        "symbol": symbol,
        "side": Side(side),
        "orderType": OrderType(order_type),
        "qty": qty,
        "price": price,
        "timeInForce": TimeInForce(time_in_force) if time_in_force else None,
        "orderLinkId": link_id,
    }
    return Call(
        "POST",
        "/v5/order/create",
        params,
        OrderAck.model_validate,
        signed=True,
        retry_safe=True,
        on_duplicate=lambda: order_ack_by_link_id(category, link_id),
    )


def order_ack_by_link_id(category: Category | str, order_link_id: str) -> Call[OrderAck]:
    """The acknowledgement of an order already placed with ``order_link_id``."""

    def parse(result: Any) -> OrderAck:
        orders = OrdersPage.model_validate(result).items
        if not orders:
            raise ValueError(f"Bybit called orderLinkId {order_link_id} a duplicate but has no such order")
        return OrderAck.model_validate(
            {"orderId": orders[0].order_id, "orderLinkId": orders[0].order_link_id}
        )

    params = {"category": Category(category), "orderLinkId": order_link_id, "openOnly": 0}
    return Call("GET", "/v5/order/realtime", params, parse, signed=True)


def cancel_order(
    category: Category | str,
    symbol: str,
    *,
    order_id: str | None = None,
    order_link_id: str | None = None,
) -> Call[OrderAck]:
    if not (order_id or order_link_id):
        raise ValueError("cancel_order needs order_id or order_link_id")
    params = {
        "category": Category(category),
        "symbol": symbol,
        "orderId": order_id,
        "orderLinkId": order_link_id,
    }
    # Not repeated after an unknown outcome: a second cancel of a cancelled order is an error (110001).
    return Call("POST", "/v5/order/cancel", params, OrderAck.model_validate, signed=True, retry_safe=False)


def open_orders_pager(
    category: Category | str,
    *,
    symbol: str | None = None,
    base_coin: str | None = None,
    settle_coin: str | None = None,
    order_link_id: str | None = None,
    limit: int | None = None,
) -> Pager[OrdersPage, Order]:
    """Open orders, all pages, of ``category`` and the filters given."""
    params = {
        "category": Category(category),
        "symbol": symbol,
        "baseCoin": base_coin,
        "settleCoin": settle_coin,
        "orderLinkId": order_link_id,
        "openOnly": 0,
        "limit": limit,
    }
    first = Call("GET", "/v5/order/realtime", params, OrdersPage.model_validate, signed=True)
    return Pager(first, _follow_cursor, lambda page: page.items)


def raw_call(
    method: str, path: str, params: Mapping[str, object] | None = None, *, signed: bool = False
) -> Call[Any]:
    """Any endpoint, result as Bybit's dict (a POST is not repeated after an unknown outcome)."""
    return Call(
        method.upper(),
        path,
        params or {},
        lambda result: result,
        signed=signed,
        retry_safe=method.upper() == "GET",
    )
