"""``AsyncBybitClient``: the asyncio client. Only the send and the sleep live here; the rest is ``core``."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, Self, TypeVar

import aiohttp
from pydantic import SecretStr
from yarl import URL

from bybit_client import endpoints, resolution, trading
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
from bybit_client.endpoints import Call, Pager, client_method, name_client_methods
from bybit_client.models import OrderAck, RateLimitStatus
from bybit_client.observe import CallObserver
from bybit_client.outcomes import OrderOutcome
from bybit_client.retry import RetryPolicy
from bybit_client.tls import UNTRUSTED_CERTIFICATE, CaFile, ssl_context
from bybit_client.trading import BatchCall, OrderCall

T = TypeVar("T")
P = TypeVar("P")
I = TypeVar("I")  # noqa: E741
A = ParamSpec("A")


def _sends(
    endpoint: Callable[A, Call[T]],
) -> Callable[Concatenate["AsyncBybitClient", A], Coroutine[Any, Any, T]]:
    async def send(client: "AsyncBybitClient", /, *args: A.args, **kwargs: A.kwargs) -> T:
        return await client._call(endpoint(*args, **kwargs))

    return client_method(send, endpoint)


def _iterates(
    pager: Callable[A, Pager[Any, I]],
) -> Callable[Concatenate["AsyncBybitClient", A], AsyncIterator[I]]:
    def iterate(client: "AsyncBybitClient", /, *args: A.args, **kwargs: A.kwargs) -> AsyncIterator[I]:
        return client._iterate(pager(*args, **kwargs))

    return client_method(iterate, pager)


def _collects(
    pager: Callable[A, Pager[Any, I]],
) -> Callable[Concatenate["AsyncBybitClient", A], Coroutine[Any, Any, list[I]]]:
    async def collect(client: "AsyncBybitClient", /, *args: A.args, **kwargs: A.kwargs) -> list[I]:
        return [item async for item in client._iterate(pager(*args, **kwargs))]

    return client_method(collect, pager)


def _decides(
    endpoint: Callable[A, OrderCall[T]],
) -> Callable[Concatenate["AsyncBybitClient", A], Coroutine[Any, Any, OrderOutcome[T]]]:
    async def decide(client: "AsyncBybitClient", /, *args: A.args, **kwargs: A.kwargs) -> OrderOutcome[T]:
        return await client._drive(resolution.decide(client._core, endpoint(*args, **kwargs)))

    return client_method(decide, endpoint)


def _decides_each(
    endpoint: Callable[A, list[BatchCall]],
) -> Callable[Concatenate["AsyncBybitClient", A], Coroutine[Any, Any, list[OrderOutcome[OrderAck]]]]:
    async def decide_each(
        client: "AsyncBybitClient", /, *args: A.args, **kwargs: A.kwargs
    ) -> list[OrderOutcome[OrderAck]]:
        return await client._drive(resolution.decide_batches(client._core, endpoint(*args, **kwargs)))

    return client_method(decide_each, endpoint)


def _runs(
    flow: Callable[Concatenate[ClientCore, A], Flow[T]],
) -> Callable[Concatenate["AsyncBybitClient", A], Coroutine[Any, Any, T]]:
    async def run(client: "AsyncBybitClient", /, *args: A.args, **kwargs: A.kwargs) -> T:
        return await client._drive(flow(client._core, *args, **kwargs))

    return client_method(run, flow, given=1)


# What an aiohttp failure means, for the error message (as ``CURL_FAILURES`` for libcurl): the
# first type the error is an instance of speaks (a certificate error is a connector error too).
AIOHTTP_FAILURES: tuple[tuple[type[BaseException], str], ...] = (
    (aiohttp.ClientConnectorCertificateError, UNTRUSTED_CERTIFICATE),
    (aiohttp.ClientConnectorDNSError, "the host name did not resolve (DNS)"),
    (aiohttp.ClientConnectorError, "could not connect"),
    (aiohttp.ClientSSLError, "the TLS handshake failed"),
    (aiohttp.ServerDisconnectedError, "the server closed the connection without an answer"),
    (TimeoutError, "timed out"),
)


def failure_words(error: BaseException) -> str:
    """``AIOHTTP_FAILURES``' words for ``error``, or its type and text."""
    for kind, words in AIOHTTP_FAILURES:
        if isinstance(error, kind):
            return words
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


@name_client_methods
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
            observer=observer,
        )
        self._ssl = ssl_context(ca_file)
        self._timeout = aiohttp.ClientTimeout(total=timeout, connect=connect_timeout)
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._sleep = sleep

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
        except (aiohttp.ClientError, TimeoutError) as exc:
            return request.failed(failure_words(exc))
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
        return await self._drive(self._core.call(call))

    async def _iterate(self, pager: Pager[P, I]) -> AsyncIterator[I]:
        call: Call[P] | None = pager.first
        while call is not None:
            page = await self._call(call)
            for item in pager.items(page):
                yield item
            call = pager.follow(call, page)

    # -- the API: the endpoints' calls, sent (``_sends``) or followed page after page -------------------

    async def sync_time(self) -> int:
        """Learn the offset between the local clock and Bybit's; returns it in milliseconds."""
        return await self._drive(self._core.sync_clock())

    server_time = _sends(endpoints.server_time)
    instruments_page = _sends(endpoints.instruments_page)
    iter_instruments = _iterates(endpoints.instruments_pager)
    tickers = _sends(endpoints.tickers)
    klines = _sends(endpoints.klines)
    iter_klines_range = _iterates(endpoints.klines_range_pager)
    wallet_balance = _sends(endpoints.wallet_balance)
    api_key_info = _sends(endpoints.api_key_info)
    request = _sends(endpoints.raw_call)

    # Trading: every order call's outcome is accepted, rejected or unknown (``OrderOutcome``).
    create_order = _decides(trading.create_order)
    amend_order = _decides(trading.amend_order)
    cancel_order = _decides(trading.cancel_order)
    cancel_all_orders = _decides(trading.cancel_all_orders)
    create_orders = _decides_each(trading.create_orders)
    cancel_orders = _decides_each(trading.cancel_orders)
    find_order = _runs(resolution.find_order)
    open_orders = _collects(trading.open_orders_pager)
    recent_closed_orders = _collects(trading.recent_closed_orders_pager)
    iter_order_history = _iterates(trading.order_history_pager)
    iter_executions = _iterates(trading.executions_pager)
    positions = _collects(trading.positions_pager)
    instrument_rules = _sends(trading.instrument_rules)
