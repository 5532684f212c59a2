"""The request/response core shared by the sync and async clients (no I/O here).

A call runs as a generator: it yields ``HttpRequest`` (send this, give me the reply), ``Sleep``
and call-budget steps (``Admit``: may a call of this group go now?, ``Observe``: what an answer
said of its limit, ``Pause``: stop every call for a while) and returns the typed result. Each client
only drives the generator with its own send, sleep and budget, so signing, parsing, error mapping,
clock recovery, retries and the budget's rules exist once.
"""

import hashlib
import logging
import time
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import orjson
from pydantic import SecretStr, ValidationError

from bybit_client import endpoints
from bybit_client.budget import GUESSED_WINDOW_SECONDS, IP_WINDOW_SECONDS, BudgetPolicy, Hold, LimitSeen
from bybit_client.clock import ServerClock
from bybit_client.endpoints import Call
from bybit_client.errors import (
    BybitAuthError,
    BybitBudgetError,
    BybitError,
    BybitRateLimitError,
    BybitTimeWindowError,
    BybitTransientError,
    error_for_http_status,
    error_for_ret_code,
)
from bybit_client.models import RateLimitStatus
from bybit_client.observe import CallEvents, CallObserver
from bybit_client.retry import RetryPolicy
from bybit_client.signing import auth_headers, build_body, build_query
from bybit_client.times import datetime_to_ms, ms_to_datetime

T = TypeVar("T")
log = logging.getLogger("bybit_client")

DEFAULT_RECV_WINDOW = 5000
TOO_MANY_VISITS = 10006  # retCode: this endpoint's limit is spent for this window
IP_LIMIT_EXCEEDED = 10018  # retCode: the address's limit is spent
USER_AGENT = "bybit-client/0.1"


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str
    base_url: str
    target: str  # path and query string, exactly as signed
    headers: Mapping[str, str]
    content: bytes | None

    @property
    def url(self) -> str:
        return self.base_url + self.target

    def failed(self, what: str) -> "TransportFailure":
        """No answer, and why, naming the host and the path (never the query: it may be signed)."""
        host = urlsplit(self.base_url).netloc
        return TransportFailure(f"{self.method} {host}{self.target.partition('?')[0]}: {what}")


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class TransportFailure:
    """The request got no HTTP answer (timeout, refused, reset). Its outcome on Bybit is unknown."""

    message: str


@dataclass(frozen=True, slots=True)
class Sleep:
    seconds: float


@dataclass(frozen=True, slots=True)
class Admit:
    """Ask the budget for one call of ``group``; the answer is None (go) or a ``Hold``."""

    group: str


@dataclass(frozen=True, slots=True)
class Observe:
    """Tell the budget what an answer to a call of ``group`` said of its limit."""

    group: str
    seen: LimitSeen


@dataclass(frozen=True, slots=True)
class Pause:
    """Tell the budget to stop every call for ``seconds``."""

    seconds: float
    reason: str


Reply = HttpResponse | TransportFailure | Hold | None
Step = HttpRequest | Sleep | Admit | Observe | Pause
Flow = Generator[Step, Reply, T]


def mask_key(api_key: str | None) -> str | None:
    return None if api_key is None else f"{api_key[:4]}…" if len(api_key) > 4 else "…"


class ClientCore:
    """Configuration and logic of a client: builds signed requests and reads the answers."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        api_secret: SecretStr | str | None,
        *,
        recv_window: int = DEFAULT_RECV_WINDOW,
        retry: RetryPolicy | None = None,
        clock: ServerClock | None = None,
        budget_policy: BudgetPolicy | None = None,
        observer: CallObserver | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.observer = observer
        self.api_key = api_key
        # Bybit counts signed calls per account: a key's calls are a group of their own. Its hash
        # names the group, so budgets kept elsewhere (Redis) never hold a key.
        self._key_tag = hashlib.sha256(api_key.encode()).hexdigest()[:16] if api_key else None
        self.budget_policy = budget_policy or BudgetPolicy()
        self._secret = (
            api_secret if isinstance(api_secret, SecretStr) or api_secret is None else SecretStr(api_secret)
        )
        self.recv_window = recv_window
        self.retry = retry or RetryPolicy()
        self.clock = clock or ServerClock()
        self.rate_limits: dict[str, RateLimitStatus] = {}
        self.rate_limit: RateLimitStatus | None = None

    def __repr__(self) -> str:
        return (
            f"base_url={self.base_url!r}, api_key={mask_key(self.api_key)!r}, recv_window={self.recv_window}"
        )

    # -- building ---------------------------------------------------------------------------------

    def prepare(self, call: Call[Any]) -> HttpRequest:
        """The wire request: the signed text is exactly the query string or body that is sent."""
        headers: dict[str, str] = {"User-Agent": USER_AGENT}
        if call.method == "GET":
            payload = build_query(call.params)
            target = f"{call.path}?{payload}" if payload else call.path
            content = None
        else:
            content = build_body(call.params)
            payload = content.decode()
            target = call.path
            headers["Content-Type"] = "application/json"
        if call.signed:
            if self.api_key is None or self._secret is None:
                raise BybitAuthError("this call needs an API key and secret", endpoint=call.path)
            headers.update(
                auth_headers(
                    self.api_key,
                    self._secret.get_secret_value(),
                    self.clock.now_ms(),
                    self.recv_window,
                    payload,
                )
            )
        return HttpRequest(call.method, self.base_url, target, headers, content)

    # -- reading ----------------------------------------------------------------------------------

    def interpret(self, call: Call[T], reply: Reply) -> T:
        """The typed result of a reply, or the mapped ``BybitError``."""
        if reply is None or isinstance(reply, Hold):
            raise BybitTransientError("no reply", endpoint=call.path)
        if isinstance(reply, TransportFailure):
            raise BybitTransientError(reply.message, endpoint=call.path)
        reset_at = self._note_rate_limit(call.path, reply.headers)
        envelope = _json_or_none(reply.body)
        if reply.status != 200:
            error_class = error_for_http_status(reply.status)
            message = envelope.get("retMsg", "") if envelope else reply.body[:200].decode(errors="replace")
            code = envelope.get("retCode") if envelope else None
            raise _error(
                error_class, message or f"HTTP {reply.status}", code, call.path, reply.status, reset_at
            )
        if envelope is None or not isinstance(envelope.get("retCode"), int):
            raise BybitTransientError(
                "malformed JSON in the answer", endpoint=call.path, http_status=reply.status
            )
        code = envelope["retCode"]
        if code != 0:
            message = str(envelope.get("retMsg", ""))
            raise _error(error_for_ret_code(code), message, code, call.path, reply.status, reset_at)
        try:
            if call.with_ext_info:
                return call.parse(
                    {"result": envelope.get("result"), "retExtInfo": envelope.get("retExtInfo")}
                )
            return call.parse(envelope.get("result"))
        except (ValidationError, KeyError, TypeError, ValueError, ArithmeticError) as exc:
            raise BybitError(f"unexpected result shape: {exc}", ret_code=0, endpoint=call.path) from None

    def _note_rate_limit(self, path: str, headers: Mapping[str, str]) -> Any:
        reset = headers.get("x-bapi-limit-reset-timestamp")
        remaining = headers.get("x-bapi-limit-status")
        if remaining is None and reset is None:
            return None
        try:
            reset_at = ms_to_datetime(reset) if reset else None
            status = RateLimitStatus(
                endpoint=path,
                remaining=int(remaining or 0),
                limit=int(headers.get("x-bapi-limit", 0)),
                reset_at=reset_at,
            )
        except ValueError:
            return None
        self.rate_limits[path] = status
        self.rate_limit = status
        return reset_at

    # -- the flow ---------------------------------------------------------------------------------

    def call(self, call: Call[T], failures: list[BybitError] | None = None) -> Flow[T]:
        """``run`` inside the observer's ``call`` (when the client has an observer)."""
        if self.observer is None:
            return (yield from self.run(call, None, failures))
        with self.observer.call(call.method, call.path) as events:
            return (yield from self.run(call, events, failures))

    def run(
        self, call: Call[T], events: CallEvents | None = None, failures: list[BybitError] | None = None
    ) -> Flow[T]:
        """Send ``call`` until it succeeds, fails for good, or the retry budget runs out; ``events``
        hears of each retry; ``failures`` receives the error of each attempt that was sent (an error
        raised before anything was sent, such as the budget's, is not among them)."""
        started = time.monotonic()
        attempt = 0
        clock_refreshed = False
        group = f"{call.path}#{self._key_tag}" if call.signed and self._key_tag else call.path
        while True:
            attempt += 1
            yield from self._admit(call, group)
            reply = yield self.prepare(call)
            if isinstance(reply, HttpResponse):
                seen = self._limit_seen(reply.headers)
                if seen is not None:
                    yield Observe(group, seen)
            try:
                return self.interpret(call, reply)
            except BybitError as error:
                if failures is not None:
                    failures.append(error)
                if isinstance(error, BybitTimeWindowError):
                    # Our clock drifted from Bybit's: learn the offset and try once more, freshly stamped.
                    if clock_refreshed or not call.signed:
                        raise
                    clock_refreshed = True
                    log.warning("bybit %s: timestamp outside recv_window, resyncing the clock", call.path)
                    yield from self.sync_clock()
                    continue
                told = self._budget_news(error, group)
                if told is not None:
                    yield told
                delay = self.retry.delay_before_retry(
                    error,
                    attempt=attempt,
                    elapsed=time.monotonic() - started,
                    retry_safe=call.retry_safe,
                    until_reset=self._until_reset(error),
                )
                if delay is None:
                    raise
                log.info("bybit %s: %s; retry %d in %.3f s", call.path, type(error).__name__, attempt, delay)
                if events is not None:
                    events.retry(error, delay)
                yield Sleep(delay)

    # -- the budget -------------------------------------------------------------------------------

    def _admit(self, call: Call[Any], group: str) -> Flow[None]:
        """Wait for the budget to let the call go, or raise ``BybitBudgetError`` when that would take
        longer than the policy's ``max_wait``."""
        waited = 0.0
        while True:
            hold = yield Admit(group)
            if not isinstance(hold, Hold):
                return
            if waited + hold.seconds > self.budget_policy.max_wait:
                raise BybitBudgetError(hold.reason, endpoint=call.path, retry_after=hold.seconds)
            log.info("bybit %s: waiting %.3f s for the call budget: %s", call.path, hold.seconds, hold.reason)
            waited += hold.seconds
            yield Sleep(hold.seconds)

    def _limit_seen(self, headers: Mapping[str, str]) -> LimitSeen | None:
        reset = headers.get("x-bapi-limit-reset-timestamp")
        remaining = headers.get("x-bapi-limit-status")
        if reset is None or remaining is None:
            return None
        try:
            reset_in = (int(reset) - self.clock.now_ms()) / 1000
            return LimitSeen(int(headers.get("x-bapi-limit") or 0), int(remaining), reset_in)
        except ValueError:
            return None

    def _budget_news(self, error: BybitError, group: str) -> Pause | Observe | None:
        """What a refusal tells the budget: a ban stops everyone, a spent endpoint its group."""
        if not isinstance(error, BybitRateLimitError) or isinstance(error, BybitBudgetError):
            return None
        if error.http_status == 403:
            return Pause(self.budget_policy.ban_seconds, f"Bybit banned the address: {error.ret_msg}")
        until_reset = self._until_reset(error)
        if error.ret_code == IP_LIMIT_EXCEEDED:
            seconds = until_reset if until_reset is not None and until_reset > 0 else IP_WINDOW_SECONDS
            return Pause(seconds, "Bybit says the address's limit is spent (retCode 10018)")
        if error.ret_code == TOO_MANY_VISITS and error.reset_at is None:
            # No window stated: the group's is spent for the length of one guessed window.
            return Observe(group, LimitSeen(0, 0, GUESSED_WINDOW_SECONDS))
        return None

    def sync_clock(self) -> Flow[int]:
        """Learn the offset of Bybit's clock from ``/v5/market/time``; returns the offset in ms."""
        sent = ServerClock.local_ms()
        result = yield from self.run(endpoints.server_time())
        self.clock.learn(result.time_nano // 1_000_000, sent, ServerClock.local_ms())
        return self.clock.offset_ms

    def _until_reset(self, error: BybitError) -> float | None:
        if not isinstance(error, BybitRateLimitError) or error.reset_at is None:
            return None
        reset_ms = datetime_to_ms(error.reset_at)
        return (reset_ms - self.clock.now_ms()) / 1000


def _json_or_none(body: bytes) -> dict[str, Any] | None:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def _error(
    error_class: type[BybitError],
    message: str,
    code: int | None,
    endpoint: str,
    status: int,
    reset_at: Any,
) -> BybitError:
    if issubclass(error_class, BybitRateLimitError):
        return error_class(message, ret_code=code, endpoint=endpoint, http_status=status, reset_at=reset_at)
    return error_class(message, ret_code=code, endpoint=endpoint, http_status=status)
