"""Every endpoint as a ``Call``: method, path, parameters and the parser of its result.

The sync and async clients run the very same calls; only how the bytes travel differs. Their
methods are these functions, bound (``client_method``): the parameters and docstrings here are the
clients'.
"""

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import TypeAdapter

from bybit_client.enums import Category, Interval
from bybit_client.models import (
    ApiKeyInfo,
    Instrument,
    InstrumentsPage,
    Kline,
    Klines,
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


@dataclass(frozen=True)
class Call(Generic[T]):
    """One API call. ``retry_safe``: may be sent again when its outcome is unknown (timeout, 5xx)."""

    method: str
    path: str
    params: Mapping[str, object]
    parse: Callable[[Any], T]
    signed: bool = False
    retry_safe: bool = True
    # ``parse`` reads {"result": ..., "retExtInfo": ...} (batch answers put per-item codes there).
    with_ext_info: bool = False


@dataclass(frozen=True)
class Pager(Generic[P, I]):
    """A paged listing: the first call, how to get the next call from a page, and a page's items."""

    first: Call[P]
    follow: Callable[[Call[P], P], Call[P] | None]
    items: Callable[[P], Sequence[I]]


def client_method(method: M, endpoint: Callable[..., Any], *, given: int = 0) -> M:
    """``method``, a client's send of what ``endpoint`` makes, described as ``endpoint`` is: its
    docstring and its parameters after the client's own, less the first ``given`` (those the client
    passes itself, such as the core a flow runs on). ``name_client_methods`` names it."""
    signature = inspect.signature(endpoint)
    client = inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY)
    method.__doc__ = endpoint.__doc__
    method.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[client, *list(signature.parameters.values())[given:]],
        return_annotation=inspect.Signature.empty,
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


def ms(value: datetime | int | None) -> int | None:
    """Milliseconds of a time given as an aware datetime or already as milliseconds."""
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


def follow_cursor(call: Call[Any], page: Any) -> Call[Any] | None:
    """The call of the page after ``page`` (a cursor-paged list), or None after the last."""
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
    return Pager(first, follow_cursor, lambda page: page.items)


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
        "start": ms(start),
        "end": ms(end),
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
    start_ms, end_ms = ms(start), ms(end)
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
