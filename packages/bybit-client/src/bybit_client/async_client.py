"""``AsyncBybitClient``: the asyncio client. Only the send and the sleep live here; the rest is ``core``."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from types import TracebackType
from typing import Any, Self, TypeVar

import aiohttp
from pydantic import SecretStr
from yarl import URL

from bybit_client import endpoints
from bybit_client.budget import AsyncCallBudget, AsyncLocalBudget
from bybit_client.clock import ServerClock
from bybit_client.core import (
    DEFAULT_RECV_WINDOW,
    Admit,
    ClientCore,
    Flow,
    HttpRequest,
    HttpResponse,
    Observe,
    Sleep,
    TransportFailure,
)
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
from bybit_client.tls import UNTRUSTED_CERTIFICATE, CaFile, ssl_context

T = TypeVar("T")
P = TypeVar("P")
I = TypeVar("I")  # noqa: E741


class AsyncBybitClient:
    """An asyncio Bybit V5 client over a pool of kept-alive connections; safe to share between tasks."""

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
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        max_connections: int = 64,
        ca_file: CaFile | None = None,
        observer: CallObserver | None = None,
        budget: AsyncCallBudget | None = None,
    ) -> None:
        self._budget = budget or AsyncLocalBudget()
        self._core = ClientCore(
            base_url,
            api_key,
            api_secret,
            recv_window=recv_window,
            retry=retry,
            clock=clock,
            budget_policy=self._budget.policy,
        )
        self._ssl = ssl_context(ca_file)
        self._timeout = aiohttp.ClientTimeout(total=timeout, connect=connect_timeout)
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._sleep = sleep
        self._observer = observer

    def __repr__(self) -> str:
        return f"AsyncBybitClient({self._core!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

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

    async def _send(self, request: HttpRequest) -> HttpResponse | TransportFailure:
        session = self._session
        if session is None:
            # Created on first use: an aiohttp session belongs to the running event loop.
            connector = aiohttp.TCPConnector(limit=self._max_connections, ttl_dns_cache=300, ssl=self._ssl)
            session = self._session = aiohttp.ClientSession(timeout=self._timeout, connector=connector)
        try:
            # encoded=True: the query goes out byte for byte as it was signed, never re-quoted.
            async with session.request(
                request.method,
                URL(request.url, encoded=True),
                data=request.content,
                headers=request.headers,
                allow_redirects=False,
            ) as response:
                body = await response.read()
        except aiohttp.ClientConnectorCertificateError:
            path = request.target.partition("?")[0]
            return TransportFailure(f"{request.method} {path} {UNTRUSTED_CERTIFICATE} talking to Bybit")
        except (aiohttp.ClientError, TimeoutError) as exc:
            return TransportFailure(f"{type(exc).__name__} talking to Bybit")
        return HttpResponse(response.status, response.headers, body)

    async def _drive(self, flow: Flow[T]) -> T:
        budget = self._budget
        try:
            step = next(flow)
            while True:
                if isinstance(step, HttpRequest):
                    step = flow.send(await self._send(step))
                elif isinstance(step, Admit):
                    step = flow.send(await budget.admit(step.group))
                elif isinstance(step, Sleep):
                    await self._sleep(step.seconds)
                    step = flow.send(None)
                elif isinstance(step, Observe):
                    await budget.observe(step.group, step.seen)
                    step = flow.send(None)
                else:
                    await budget.pause(step.seconds, step.reason)
                    step = flow.send(None)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    async def _call(self, call: Call[T]) -> T:
        observer = self._observer
        if observer is None:
            return await self._drive(self._core.run(call))
        with observer.call(call.method, call.path) as events:
            return await self._drive(self._core.run(call, events))

    async def _iterate(self, pager: Pager[P, I]) -> AsyncIterator[I]:
        call: Call[P] | None = pager.first
        while call is not None:
            page = await self._call(call)
            for item in pager.items(page):
                yield item
            call = pager.follow(call, page)

    # -- the API ------------------------------------------------------------------------------------

    async def sync_time(self) -> int:
        """Learn the offset between the local clock and Bybit's; returns it in milliseconds."""
        return await self._drive(self._core.sync_clock())

    async def server_time(self) -> ServerTime:
        return await self._call(endpoints.server_time())

    async def instruments_page(
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
        return await self._call(
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
    ) -> AsyncIterator[Instrument]:
        """Every instrument of ``category``, following ``nextPageCursor`` page after page."""
        return self._iterate(
            endpoints.instruments_pager(
                category, symbol=symbol, status=status, base_coin=base_coin, limit=limit
            )
        )

    async def tickers(self, category: Category | str, symbol: str | None = None) -> list[Ticker]:
        return await self._call(endpoints.tickers(category, symbol))

    async def klines(
        self,
        category: Category | str,
        symbol: str,
        interval: Interval | str,
        start: datetime | int | None = None,
        end: datetime | int | None = None,
        limit: int = 200,
    ) -> Klines:
        """Up to ``limit`` candles (the newest ones in [start, end]), oldest first."""
        return await self._call(endpoints.klines(category, symbol, interval, start, end, limit))

    def iter_klines_range(
        self,
        category: Category | str,
        symbol: str,
        interval: Interval | str,
        start: datetime | int,
        end: datetime | int,
    ) -> AsyncIterator[Kline]:
        """Every candle starting in [start, end], oldest first, fetched 1000 per request."""
        return self._iterate(endpoints.klines_range_pager(category, symbol, interval, start, end))

    async def wallet_balance(self, coin: str | Sequence[str] | None = None) -> WalletBalance:
        return await self._call(endpoints.wallet_balance(coin))

    async def api_key_info(self) -> ApiKeyInfo:
        return await self._call(endpoints.api_key_info())

    async def create_order(
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
        return await self._call(call)

    async def cancel_order(
        self,
        category: Category | str,
        symbol: str,
        *,
        order_id: str | None = None,
        order_link_id: str | None = None,
    ) -> OrderAck:
        return await self._call(
            endpoints.cancel_order(category, symbol, order_id=order_id, order_link_id=order_link_id)
        )

    async def open_orders(self, category: Category | str, **filters: Any) -> list[Order]:
        """Open orders, all pages. ``filters``: symbol, base_coin, settle_coin, order_link_id."""
        return [order async for order in self._iterate(endpoints.open_orders_pager(category, **filters))]

    async def request(
        self, method: str, path: str, params: Mapping[str, object] | None = None, *, signed: bool = False
    ) -> Any:
        """Any endpoint, result as Bybit's dict (a POST is not repeated after an unknown outcome)."""
        return await self._call(endpoints.raw_call(method, path, params or {}, signed=signed))
