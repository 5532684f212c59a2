"""``BybitClient``: the blocking client. It drives the shared ``core`` flow with libcurl and a sleep."""

import time
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, Self, TypeVar

from pydantic import SecretStr

from bybit_client import endpoints, resolution, trading
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
from bybit_client.endpoints import Call, Pager, client_method, name_client_methods
from bybit_client.models import OrderAck, RateLimitStatus
from bybit_client.observe import CallObserver
from bybit_client.outcomes import OrderOutcome
from bybit_client.retry import RetryPolicy
from bybit_client.tls import CaFile
from bybit_client.trading import BatchCall, OrderCall

T = TypeVar("T")
P = TypeVar("P")
I = TypeVar("I")  # noqa: E741
A = ParamSpec("A")


def _sends(endpoint: Callable[A, Call[T]]) -> Callable[Concatenate["BybitClient", A], T]:
    def send(client: "BybitClient", /, *args: A.args, **kwargs: A.kwargs) -> T:
        return client._call(endpoint(*args, **kwargs))

    return client_method(send, endpoint)


def _iterates(pager: Callable[A, Pager[Any, I]]) -> Callable[Concatenate["BybitClient", A], Iterator[I]]:
    def iterate(client: "BybitClient", /, *args: A.args, **kwargs: A.kwargs) -> Iterator[I]:
        return client._iterate(pager(*args, **kwargs))

    return client_method(iterate, pager)


def _collects(pager: Callable[A, Pager[Any, I]]) -> Callable[Concatenate["BybitClient", A], list[I]]:
    def collect(client: "BybitClient", /, *args: A.args, **kwargs: A.kwargs) -> list[I]:
        return list(client._iterate(pager(*args, **kwargs)))

    return client_method(collect, pager)


def _decides(
    endpoint: Callable[A, OrderCall[T]],
) -> Callable[Concatenate["BybitClient", A], OrderOutcome[T]]:
    def decide(client: "BybitClient", /, *args: A.args, **kwargs: A.kwargs) -> OrderOutcome[T]:
        return client._drive(resolution.decide(client._core, endpoint(*args, **kwargs)))

    return client_method(decide, endpoint)


def _decides_each(
    endpoint: Callable[A, list[BatchCall]],
) -> Callable[Concatenate["BybitClient", A], list[OrderOutcome[OrderAck]]]:
    def decide_each(
        client: "BybitClient", /, *args: A.args, **kwargs: A.kwargs
    ) -> list[OrderOutcome[OrderAck]]:
        return client._drive(resolution.decide_batches(client._core, endpoint(*args, **kwargs)))

    return client_method(decide_each, endpoint)


def _runs(flow: Callable[Concatenate[ClientCore, A], Flow[T]]) -> Callable[Concatenate["BybitClient", A], T]:
    def run(client: "BybitClient", /, *args: A.args, **kwargs: A.kwargs) -> T:
        return client._drive(flow(client._core, *args, **kwargs))

    return client_method(run, flow, given=1)


@name_client_methods
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
            observer=observer,
        )
        self._transport = CurlTransport(
            timeout=timeout, connect_timeout=connect_timeout, max_connections=max_connections, ca_file=ca_file
        )
        self._sleep = sleep

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
        return self._drive(self._core.call(call))

    def _iterate(self, pager: Pager[P, I]) -> Iterator[I]:
        call: Call[P] | None = pager.first
        while call is not None:
            page = self._call(call)
            yield from pager.items(page)
            call = pager.follow(call, page)

    # -- the API: the endpoints' calls, sent (``_sends``) or followed page after page -------------------

    def sync_time(self) -> int:
        """Learn the offset between the local clock and Bybit's; returns it in milliseconds."""
        return self._drive(self._core.sync_clock())

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
