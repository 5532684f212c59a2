"""``BybitStream``: one supervised WebSocket connection to a Bybit V5 stream (asyncio, aiohttp).

The connection is kept alive by a supervisor task:
- ``{"op": "ping"}`` every ``ping_interval`` seconds (Bybit cuts connections that stay quiet);
- a watchdog: no frame at all for ``silence_timeout`` seconds (not even the pong) means the
  connection is dead even if TCP has not noticed: it is closed and replaced;
- reconnects wait a jittered exponential backoff and take a slot of the per-IP connection budget;
- after each (re)connect the private stream logs in again, every subscription is restored, and a
  ``Connected`` event tells the consumer, in order with the messages, that it may backfill;
- ``success: false`` answers become typed errors: a refused login ends the stream with
  ``BybitStreamAuthError`` (retrying a wrong key only gets the IP banned), a refused subscription
  raises ``BybitSubscriptionError`` from ``subscribe``;
- order book topics are kept as local books; a gap in update ids drops the book, asks for a fresh
  snapshot and emits ``OrderBookResync``.

Messages and events come out of ``async for item in stream`` (or ``await stream.next()``).
"""

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

import aiohttp
import orjson

from bybit_client.clock import ServerClock
from bybit_client.errors import (
    BybitError,
    BybitStreamAuthError,
    BybitStreamError,
    BybitSubscriptionError,
    OrderBookGapError,
)
from bybit_client.signing import sign
from bybit_client.streams.backoff import DEFAULT_BUDGET, Backoff, ConnectionBudget
from bybit_client.streams.messages import (
    Connected,
    Disconnected,
    OrderBookMessage,
    OrderBookResync,
    StreamEvent,
    StreamMessage,
    parse_message,
)
from bybit_client.streams.orderbook import OrderBook
from bybit_client.streams.topics import MAX_ARGS_PER_REQUEST
from bybit_client.tls import CaFile, ssl_context

logger = logging.getLogger(__name__)

StreamItem = StreamMessage | StreamEvent
_CLOSED = object()  # ends the iteration


@dataclass(frozen=True)
class StreamSettings:
    """Timings of a stream; tests shorten them, production keeps Bybit's."""

    ping_interval: float = 20.0
    silence_timeout: float = 30.0
    connect_timeout: float = 10.0
    reply_timeout: float = 10.0
    auth_expires: float = 10.0
    backoff: Backoff = field(default_factory=Backoff)
    queue_size: int = 10_000
    max_args_per_request: int = MAX_ARGS_PER_REQUEST


@dataclass
class TopicHealth:
    """When the last push of a topic arrived (wall clock) and how many arrived."""

    last_message_at: float | None = None
    messages: int = 0


@dataclass
class StreamStatus:
    """What an operator wants to know about a stream."""

    url: str
    connected: bool
    reconnects: int
    connected_since: float | None
    last_frame_at: float | None
    topics: dict[str, TopicHealth]


class _ConnectionLostError(Exception):
    """The current connection is gone (closed, silent, or refused a restore): reconnect."""


class BybitStream:
    """A supervised connection to one stream URL (a category's public stream or the private one).

    ``api_key`` and ``api_secret`` make it a private stream that logs in on every connect. The
    secret is only used to sign and never appears in a repr, a log line or an error.
    """

    def __init__(
        self,
        url: str,
        topics: Iterable[str] = (),
        *,
        api_key: str | None = None,
        api_secret: str | None = None,
        settings: StreamSettings | None = None,
        budget: ConnectionBudget | None = None,
        clock: ServerClock | None = None,
        session: aiohttp.ClientSession | None = None,
        ca_file: CaFile | None = None,
    ) -> None:
        if (api_key is None) != (api_secret is None):
            raise ValueError("a private stream needs both api_key and api_secret")
        self.url = url
        self.settings = settings or StreamSettings()
        self._api_key = api_key
        self._api_secret = api_secret
        self._budget = budget or DEFAULT_BUDGET
        self._clock = clock or ServerClock()
        self._session = session
        self._own_session = session is None
        self._ssl = ssl_context(ca_file)  # the REST clients' policy: certifi's bundle or ca_file
        self._topics: dict[str, None] = dict.fromkeys(topics)  # ordered set: the wanted subscriptions
        self._active: set[str] = set()  # acknowledged on the current connection
        self._acknowledged: set[str] = set()  # acknowledged on any connection
        self._books: dict[str, OrderBook] = {}
        self._health: dict[str, TopicHealth] = {}
        self._queue: asyncio.Queue[Any] = asyncio.Queue(self.settings.queue_size)
        self._pending: dict[str, asyncio.Future[tuple[bool, str]]] = {}
        self._req_ids = itertools.count(1)
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._fatal: BaseException | None = None
        self._closing = False
        self._background: set[asyncio.Task[Any]] = set()
        self._connections = 0
        self._down_since: float | None = None
        self._last_frame_mono = 0.0
        self._backpressured = False
        self.reconnects = 0
        self.connected_since: float | None = None
        self.last_frame_at: float | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def closing(self) -> bool:
        """True once ``close`` was called."""
        return self._closing

    @property
    def private(self) -> bool:
        return self._api_key is not None

    async def start(self) -> Self:
        """Start the supervisor (idempotent). The connection comes up in the background."""
        if self._supervisor is None:
            if self._session is None:
                self._session = aiohttp.ClientSession()
            self._supervisor = asyncio.create_task(self._supervise(), name=f"bybit-stream {self.url}")
        return self

    async def wait_ready(self) -> None:
        """Wait until connected (logged in) with every subscription live; raise the fatal error if any.

        Bound it with ``asyncio.timeout``: while Bybit is unreachable it keeps waiting.
        """
        await self.start()
        assert self._supervisor is not None
        while not self._ready.is_set():
            if self._fatal is not None:
                raise self._fatal
            if self._supervisor.done():
                raise BybitStreamError("the stream is closed", endpoint=self.url)
            waiter = asyncio.ensure_future(self._ready.wait())
            try:
                await asyncio.wait({waiter, self._supervisor}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()

    async def close(self) -> None:
        """Close the socket and stop the supervisor; iteration ends after the queued items."""
        self._closing = True
        ws = self._ws
        if ws is not None and not ws.closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), self.settings.reply_timeout)
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None
        self._put_nowait_or_drop(_CLOSED)

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        kind = "private" if self.private else "public"
        return f"BybitStream({self.url!r}, {kind}, topics={len(self._topics)}, reconnects={self.reconnects})"

    # -- consuming -------------------------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[StreamItem]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[StreamItem]:
        await self.start()
        while True:
            item = await self.next()
            if item is None:
                return
            yield item

    async def next(self) -> StreamItem | None:
        """The next message or event; None once the stream is closed. Raises the fatal error."""
        item = await self._queue.get()
        if item is _CLOSED:
            self._put_nowait_or_drop(_CLOSED)  # every later call ends too
            return None
        if isinstance(item, BaseException):
            self._put_nowait_or_drop(_CLOSED)
            raise item
        result: StreamItem = item
        return result

    def order_book(self, topic: str) -> OrderBook | None:
        """The local book of an ``orderbook.*`` topic (check ``synced`` before trusting it)."""
        return self._books.get(topic)

    @property
    def topics(self) -> tuple[str, ...]:
        return tuple(self._topics)

    def status(self) -> StreamStatus:
        return StreamStatus(
            url=self.url,
            connected=self._ready.is_set(),
            reconnects=self.reconnects,
            connected_since=self.connected_since,
            last_frame_at=self.last_frame_at,
            topics={topic: self._health.setdefault(topic, TopicHealth()) for topic in self._topics},
        )

    # -- subscriptions ---------------------------------------------------------------------------

    async def subscribe(self, *topics: str) -> None:
        """Add topics. On a live connection the request is sent now and a refusal raises
        ``BybitSubscriptionError`` (the refused topics are forgotten); otherwise they are sent
        at the next connect."""
        fresh = [topic for topic in topics if topic not in self._topics]
        self._topics.update(dict.fromkeys(fresh))
        ws = self._ws
        if ws is None or not self._ready.is_set() or not fresh:
            return
        try:
            await self._request_topics(ws, "subscribe", fresh)
        except BybitSubscriptionError:
            for topic in fresh:
                self._topics.pop(topic, None)
            raise

    async def unsubscribe(self, *topics: str) -> None:
        gone = [topic for topic in topics if topic in self._topics]
        for topic in gone:
            self._topics.pop(topic, None)
            self._books.pop(topic, None)
        ws = self._ws
        if ws is not None and self._ready.is_set() and gone:
            await self._request_topics(ws, "unsubscribe", [topic for topic in gone if topic in self._active])

    async def resubscribe(self, topic: str) -> None:
        """Unsubscribe and subscribe again: Bybit then sends a fresh snapshot of the topic."""
        ws = self._ws
        if ws is None or not self._ready.is_set() or topic not in self._topics:
            return  # the next connect subscribes afresh anyway
        if topic in self._active:
            await self._request_topics(ws, "unsubscribe", [topic])
        await self._request_topics(ws, "subscribe", [topic])

    async def _request_topics(self, ws: aiohttp.ClientWebSocketResponse, op: str, topics: list[str]) -> None:
        """Send every chunk at once, then wait for all the answers (one round trip, not one per chunk)."""
        step = self.settings.max_args_per_request
        chunks = [topics[index : index + step] for index in range(0, len(topics), step)]
        loop = asyncio.get_running_loop()
        pending: list[tuple[str, asyncio.Future[tuple[bool, str]]]] = []
        try:
            for chunk in chunks:
                req_id = f"{op}-{next(self._req_ids)}"
                future: asyncio.Future[tuple[bool, str]] = loop.create_future()
                self._pending[req_id] = future
                pending.append((req_id, future))
                await ws.send_str(orjson.dumps({"req_id": req_id, "op": op, "args": chunk}).decode())
            async with asyncio.timeout(self.settings.reply_timeout):
                answers = await asyncio.gather(*(future for _, future in pending))
        except TimeoutError:
            raise _ConnectionLostError(f"no answer to {op} within {self.settings.reply_timeout} s") from None
        finally:
            for req_id, _ in pending:
                self._pending.pop(req_id, None)
        refused: list[str] = []
        reasons: list[str] = []
        for chunk, (success, message) in zip(chunks, answers, strict=True):
            if not success:
                refused += chunk
                reasons.append(message or f"{op} refused")
            elif op == "subscribe":
                self._active.update(chunk)
                self._acknowledged.update(chunk)
            else:
                self._active.difference_update(chunk)
        if refused:
            raise BybitSubscriptionError(
                "; ".join(dict.fromkeys(reasons)), topics=tuple(refused), endpoint=self.url
            )

    async def _request(
        self, ws: aiohttp.ClientWebSocketResponse, op: str, args: list[Any]
    ) -> tuple[bool, str]:
        req_id = f"{op}-{next(self._req_ids)}"
        future: asyncio.Future[tuple[bool, str]] = asyncio.get_running_loop().create_future()
        self._pending[req_id] = future
        try:
            await ws.send_str(orjson.dumps({"req_id": req_id, "op": op, "args": args}).decode())
            async with asyncio.timeout(self.settings.reply_timeout):
                return await future
        except TimeoutError:
            raise _ConnectionLostError(f"no answer to {op} within {self.settings.reply_timeout} s") from None
        finally:
            self._pending.pop(req_id, None)

    # -- the supervisor --------------------------------------------------------------------------

    async def _supervise(self) -> None:
        attempt = 0
        try:
            while not self._closing:
                await self._budget.acquire()
                opened_at = time.monotonic()
                try:
                    reason = await self._connection()
                except BybitStreamAuthError as error:
                    self._fail(error)
                    return
                except (
                    aiohttp.ClientError,
                    OSError,
                    TimeoutError,
                    _ConnectionLostError,
                    BybitError,
                ) as error:
                    reason = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
                finally:
                    self._ready.clear()
                    self._active.clear()
                    self.connected_since = None
                if self.closing:
                    return
                if self._down_since is None:
                    self._down_since = time.time()
                if time.monotonic() - opened_at >= self.settings.backoff.reset_after:
                    attempt = 0
                delay = self.settings.backoff.delay(attempt)
                attempt += 1
                # Warnings back off with the reconnects: attempts 1, 2, 4, 8, ... of an outage
                # warn, the others are debug lines, so a long outage does not flood the log.
                logger.log(
                    logging.WARNING if attempt & (attempt - 1) == 0 else logging.DEBUG,
                    "bybit stream disconnected",
                    extra={
                        "url": self.url,
                        "reason": reason,
                        "retry_in": round(delay, 3),
                        "attempt": attempt,
                    },
                )
                await self._put(Disconnected(at=datetime.now(UTC), reason=reason, retry_in=delay))
                await asyncio.sleep(delay)
        except asyncio.CancelledError:
            raise
        except BaseException as error:  # a bug must end the iteration loudly, not hang it
            self._fail(error)
            raise

    def _fail(self, error: BaseException) -> None:
        self._fatal = error
        self._put_nowait_or_drop(error, force=True)

    async def _connection(self) -> str:
        """One connection from connect to loss; returns why it ended."""
        assert self._session is not None
        timeout = aiohttp.ClientWSTimeout(ws_receive=None, ws_close=self.settings.reply_timeout)
        async with asyncio.timeout(self.settings.connect_timeout):
            ws = await self._session.ws_connect(
                self.url, timeout=timeout, autoping=True, max_msg_size=0, ssl=self._ssl
            )
        self._ws = ws
        self._last_frame_mono = time.monotonic()
        reader = asyncio.create_task(self._read(ws), name="bybit-stream reader")
        pinger = asyncio.create_task(self._ping(ws), name="bybit-stream ping")
        watchdog = asyncio.create_task(self._watch(reader), name="bybit-stream watchdog")
        try:
            setup = asyncio.create_task(self._setup(ws))
            done, _ = await asyncio.wait({setup, reader}, return_when=asyncio.FIRST_COMPLETED)
            if setup not in done:
                setup.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await setup
            else:
                setup.result()  # raises a refused login or restore
            try:
                return await reader
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if watchdog.done() and not (current is not None and current.cancelling()):
                    return f"silent for {self.settings.silence_timeout} s"
                raise
        finally:
            for task in (pinger, reader, watchdog):
                task.cancel()
            await asyncio.gather(pinger, reader, watchdog, return_exceptions=True)
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(_ConnectionLostError("connection lost"))
            self._ws = None
            if not ws.closed:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(ws.close(), self.settings.reply_timeout)

    async def _setup(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        if self.private:
            await self._login(ws)
        for book in self._books.values():
            book.clear()  # a new connection starts every book from a new snapshot
        # Topics added by ``subscribe`` while this ran are sent too, before the stream is ready.
        while missing := [topic for topic in self._topics if topic not in self._active]:
            try:
                await self._request_topics(ws, "subscribe", missing)
            except BybitSubscriptionError as error:
                await self._isolate_refused(ws, error.topics)

        self.reconnects = self._connections
        self._connections += 1
        self.connected_since = time.time()
        down = 0.0 if self._down_since is None else max(0.0, self.connected_since - self._down_since)
        self._down_since = None
        self._ready.set()
        logger.info(
            "bybit stream connected",
            extra={"url": self.url, "topics": len(self._topics), "reconnects": self.reconnects},
        )
        await self._put(
            Connected(
                at=datetime.now(UTC),
                reconnects=self.reconnects,
                topics=tuple(self._topics),
                down_seconds=down,
            )
        )

    async def _isolate_refused(self, ws: aiohttp.ClientWebSocketResponse, topics: tuple[str, ...]) -> None:
        """A request was refused as a whole: ask for its topics one by one to find the bad ones.

        A topic accepted on an earlier connection and refused now means the exchange is in
        trouble (the connection is given up and tried again later); a topic never accepted (added
        while connecting) is dropped with an error line, or every reconnect would fail on it.
        """
        for topic in topics:
            try:
                await self._request_topics(ws, "subscribe", [topic])
            except BybitSubscriptionError as error:
                if topic in self._acknowledged:
                    raise _ConnectionLostError(f"subscriptions not restored: {error.ret_msg}") from error
                self._topics.pop(topic, None)
                logger.error(
                    "bybit stream subscription refused",
                    extra={"url": self.url, "topic": topic, "ret_msg": error.ret_msg},
                )

    async def _login(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        assert self._api_key is not None
        assert self._api_secret is not None
        expires = self._clock.now_ms() + int(self.settings.auth_expires * 1000)
        signature = sign(self._api_secret, f"GET/realtime{expires}")
        success, message = await self._request(ws, "auth", [self._api_key, expires, signature])
        if not success:
            raise BybitStreamAuthError(f"login refused: {message or 'no reason given'}", endpoint=self.url)

    async def _ping(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        while True:
            await asyncio.sleep(self.settings.ping_interval)
            await ws.send_str(orjson.dumps({"req_id": f"ping-{next(self._req_ids)}", "op": "ping"}).decode())

    async def _watch(self, reader: "asyncio.Task[str]") -> None:
        """Stop the reader when no frame came for ``silence_timeout`` while it was waiting for one.

        A timer of its own, checked a few times per period, rather than a timeout on every
        receive: arming and cancelling a timer per message cost more than parsing it.
        """
        silence = self.settings.silence_timeout
        while True:
            await asyncio.sleep(silence / 4)
            if self._backpressured:
                self._last_frame_mono = time.monotonic()  # the consumer is slow, not the server
            elif time.monotonic() - self._last_frame_mono > silence:
                reader.cancel()
                return

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> str:
        receive = ws.receive
        text, binary = aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY
        queue = self._queue
        while True:
            frame = await receive()
            if frame.type is text or frame.type is binary:
                self._last_frame_mono = time.monotonic()
                self.last_frame_at = time.time()
                message = self._handle(orjson.loads(frame.data))
                if message is None:
                    continue
                if queue.full():
                    # A slow consumer slows the reading (TCP pushes back), not memory.
                    self._backpressured = True
                    try:
                        await queue.put(message)
                    finally:
                        self._backpressured = False
                else:
                    queue.put_nowait(message)
            elif frame.type is aiohttp.WSMsgType.ERROR:
                return f"socket error: {ws.exception()!r}"
            else:
                return f"closed by the server (code {ws.close_code})"

    def _handle(self, raw: Any) -> StreamMessage | None:
        """The message to deliver, or None (a reply, or an order book update not applicable)."""
        if not isinstance(raw, dict):
            return None
        if "topic" not in raw:
            self._on_reply(raw)
            return None
        message = parse_message(raw)
        health = self._health.get(message.topic)
        if health is None:
            health = self._health[message.topic] = TopicHealth()
        health.last_message_at = self.last_frame_at
        health.messages += 1
        if isinstance(message, OrderBookMessage) and not self._apply_book(message):
            return None
        return message

    def _apply_book(self, message: OrderBookMessage) -> bool:
        topic = message.topic
        book = self._books.get(topic)
        if book is None:
            book = self._books[topic] = OrderBook(topic)
        try:
            return book.apply(message)
        except OrderBookGapError as gap:
            logger.warning(
                "order book gap, asking for a fresh snapshot",
                extra={"topic": topic, "expected": gap.expected, "received": gap.received},
            )
            self._put_nowait_or_drop(
                OrderBookResync(
                    at=datetime.now(UTC), topic=topic, expected=gap.expected, received=gap.received
                )
            )
            self._spawn(self._resync(topic))
            return False

    async def _resync(self, topic: str) -> None:
        try:
            await self.resubscribe(topic)
        except (BybitError, _ConnectionLostError, aiohttp.ClientError, OSError) as error:
            # The connection is failing: the reconnect subscribes the topic from scratch.
            logger.warning("order book resubscribe failed", extra={"topic": topic, "error": str(error)})

    def _on_reply(self, raw: dict[str, Any]) -> None:
        op = raw.get("op")
        if op in ("ping", "pong"):
            return
        req_id = raw.get("req_id")
        future = self._pending.get(req_id) if isinstance(req_id, str) else None
        if future is None:
            # Some answers come without our req_id: give it to the oldest request of that op.
            future = next(
                (pending for key, pending in self._pending.items() if key.startswith(f"{op}-")), None
            )
        if future is not None and not future.done():
            future.set_result((bool(raw.get("success")), str(raw.get("ret_msg") or "")))
        elif raw.get("success") is False:
            logger.warning("bybit stream error frame", extra={"url": self.url, "ret_msg": raw.get("ret_msg")})

    # -- plumbing --------------------------------------------------------------------------------

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _put(self, item: Any) -> None:
        await self._queue.put(item)

    def _put_nowait_or_drop(self, item: Any, *, force: bool = False) -> None:
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            if not force:
                return
            # A fatal error must reach the consumer: make room by dropping the oldest item.
            with contextlib.suppress(asyncio.QueueEmpty):
                self._queue.get_nowait()
            self._queue.put_nowait(item)
