"""``BybitClient``: the blocking client. It drives the shared ``core`` flow with libcurl and a sleep."""

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from types import TracebackType
from typing import Any, Self, TypeVar

from pydantic import SecretStr

from bybit_client import endpoints
from bybit_client.budget import CallBudget, LocalBudget
from bybit_client.clock import ServerClock
from bybit_client.core import (
    DEFAULT_RECV_WINDOW,
    Admit,
    ClientCore,
    Flow,
    HttpRequest,
    Observe,
    Sleep,
)
from bybit_client.curl_transport import CurlTransport
from bybit_client.endpoints import Call, Pager
from bybit_client.enums import Category, Interval, OrderType, Side, TimeInForce
from bybit_client.models import (
    ApiKeyInfo,
    Instrument,
    InstrumentsPage,
    Kline,
    Klines,
    Order,
    OrderAck,
    RateLimitStatus,
    ServerTime,
    Ticker,
    WalletBalance,
)
from bybit_client.observe import CallObserver
from bybit_client.retry import RetryPolicy
from bybit_client.tls import CaFile

T = TypeVar("T")
P = TypeVar("P")
I = TypeVar("I")  # noqa: E741


class BybitClient:
    """A blocking Bybit V5 client over one pooled, kept-alive HTTP connection set."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        api_secret: SecretStr | str | None = None,
        *,
        timeout: float = 10.0,
        connect_timeout: float = 5.0,
        recv_window: int = DEFAULT_RECV_WINDOW,
        retry: RetryPolicy | None = None,
        clock: ServerClock | None = None,
        sleep: Callable[[float], None] = time.sleep,
        max_connections: int = 4,
        ca_file: CaFile | None = None,
        observer: CallObserver | None = None,
        budget: CallBudget | None = None,
    ) -> None:
        self._budget = budget or LocalBudget()
        self._core = ClientCore(
            base_url,
            api_key,
            api_secret,
            recv_window=recv_window,
            retry=retry,
            clock=clock,
            budget_policy=self._budget.policy,
        )
        self._transport = CurlTransport(
            timeout=timeout, connect_timeout=connect_timeout, max_connections=max_connections, ca_file=ca_file
        )
        self._sleep = sleep
        self._observer = observer

    def __repr__(self) -> str:
        return f"BybitClient({self._core!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._transport.close()

    @property
    def rate_limit(self) -> RateLimitStatus | None:
        """The rate-limit status of the last answer that carried one."""
        return self._core.rate_limit

    @property
    def rate_limits(self) -> dict[str, RateLimitStatus]:
        """The last rate-limit status seen per endpoint path."""
        return dict(self._core.rate_limits)

    @property
    def clock_offset_ms(self) -> int:
        return self._core.clock.offset_ms

    # -- driving the shared flow --------------------------------------------------------------------

    def _drive(self, flow: Flow[T]) -> T:
        send = self._transport.send
        budget = self._budget
        try:
            step = next(flow)
            while True:
                if isinstance(step, HttpRequest):
                    step = flow.send(send(step))
                elif isinstance(step, Admit):
                    step = flow.send(budget.admit(step.group))
                elif isinstance(step, Sleep):
                    self._sleep(step.seconds)
                    step = flow.send(None)
                elif isinstance(step, Observe):
                    budget.observe(step.group, step.seen)
                    step = flow.send(None)
                else:
                    budget.pause(step.seconds, step.reason)
                    step = flow.send(None)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    def _call(self, call: Call[T]) -> T:
        observer = self._observer
        if observer is None:
            return self._drive(self._core.run(call))
        with observer.call(call.method, call.path) as events:
            return self._drive(self._core.run(call, events))

    def _iterate(self, pager: Pager[P, I]) -> Iterator[I]:
        call: Call[P] | None = pager.first
        while call is not None:
            page = self._call(call)
            yield from pager.items(page)
            call = pager.follow(call, page)

    # -- the API ------------------------------------------------------------------------------------

    def sync_time(self) -> int:
        """Learn the offset between the local clock and Bybit's; returns it in milliseconds."""
        return self._drive(self._core.sync_clock())

    def server_time(self) -> ServerTime:
        return self._call(endpoints.server_time())

    def instruments_page(
        self,
        category: Category | str,
        *,
        cursor: str | None = None,
        limit: int | None = None,
        symbol: str | None = None,
        status: str | None = None,
        base_coin: str | None = None,
    ) -> InstrumentsPage:
        """One page of instruments; ``cursor`` is a page's ``next_page_cursor``, sent back unchanged."""
        return self._call(
            endpoints.instruments_page(
                category, symbol=symbol, status=status, base_coin=base_coin, limit=limit, cursor=cursor
            )
        )

    def iter_instruments(
        self,
        category: Category | str,
        *,
        limit: int | None = None,
        symbol: str | None = None,
        status: str | None = None,
        base_coin: str | None = None,
    ) -> Iterator[Instrument]:
        """Every instrument of ``category``, following ``nextPageCursor`` page after page."""
        return self._iterate(
            endpoints.instruments_pager(
                category, symbol=symbol, status=status, base_coin=base_coin, limit=limit
            )
        )

    def tickers(self, category: Category | str, symbol: str | None = None) -> list[Ticker]:
        return self._call(endpoints.tickers(category, symbol))

    def klines(
        self,
        category: Category | str,
        symbol: str,
        interval: Interval | str,
        start: datetime | int | None = None,
        end: datetime | int | None = None,
        limit: int = 200,
    ) -> Klines:
        """Up to ``limit`` candles (the newest ones in [start, end]), oldest first."""
        return self._call(endpoints.klines(category, symbol, interval, start, end, limit))

    def iter_klines_range(
        self,
        category: Category | str,
        symbol: str,
        interval: Interval | str,
        start: datetime | int,
        end: datetime | int,
    ) -> Iterator[Kline]:
        """Every candle starting in [start, end], oldest first, fetched 1000 per request."""
        return self._iterate(endpoints.klines_range_pager(category, symbol, interval, start, end))

    def wallet_balance(self, coin: str | Sequence[str] | None = None) -> WalletBalance:
        return self._call(endpoints.wallet_balance(coin))

    def api_key_info(self) -> ApiKeyInfo:
        return self._call(endpoints.api_key_info())

    def create_order(
        self,
        category: Category | str,
        symbol: str,
        side: Side | str,
        order_type: OrderType | str,
        qty: Decimal | str,
        *,
        price: Decimal | str | None = None,
        time_in_force: TimeInForce | str | None = None,
        order_link_id: str | None = None,
        extra: dict[str, object] | None = None,
    ) -> OrderAck:
        """Place an order; an ``order_link_id`` is generated when not given (it makes retries safe)."""
        call = endpoints.create_order(
            category,
            symbol,
            side,
            order_type,
            qty,
            price=price,
            time_in_force=time_in_force,
            order_link_id=order_link_id,
            extra=extra,
        )
        return self._call(call)

    def cancel_order(
        self,
        category: Category | str,
        symbol: str,
        *,
        order_id: str | None = None,
        order_link_id: str | None = None,
    ) -> OrderAck:
        return self._call(
            endpoints.cancel_order(category, symbol, order_id=order_id, order_link_id=order_link_id)
        )

    def open_orders(self, category: Category | str, **filters: Any) -> list[Order]:
        """Open orders, all pages. ``filters``: symbol, base_coin, settle_coin, order_link_id."""
        return list(self._iterate(endpoints.open_orders_pager(category, **filters)))

    def request(
        self, method: str, path: str, params: Mapping[str, object] | None = None, *, signed: bool = False
    ) -> Any:
        """Any endpoint, result as Bybit's dict (a POST is not repeated after an unknown outcome)."""
        return self._call(endpoints.raw_call(method, path, params or {}, signed=signed))
