"""The fake exchange's WebSocket side: Bybit's V5 public and private streams, served by aiohttp.

It answers ``ping``, ``auth`` (checked as Bybit does: ``GET/realtime{expires}`` signed with the
key's secret), ``subscribe`` and ``unsubscribe``, and pushes from the same data as the REST side:
klines from ``data.candle`` on the exchange's clock (a candle is pushed ``confirm: true`` once the
clock has passed its end, so moving ``clock_offset_ms`` forward closes candles), tickers from
``data.ticker``, order books kept here and moved by ``publish_orderbook_deltas``, orders created
through REST on the private stream.

The private stream carries the trading engine's pushes (``private_feed``: order, execution,
position, wallet, also by category as ``order.linear``), with its own faults (``private_faults``:
pushes duplicated, reordered, dropped).

Faults (``inject``) act on the open connections (of one path, of one API key, or all): ``drop``
(close frame 1001), ``silence`` (open but mute: no pushes, no answers, no pongs), ``error_frame``
(a ``success: false`` frame, the connection closed with 1011, and the next subscribe on that path
refused), ``close_1006`` (TCP cut without a close frame), ``skip_delta`` (the next order book delta
is not sent).

Everything runs on the fake's event loop; the controls may be called from any thread and return a
``concurrent.futures.Future`` (``await asyncio.wrap_future(f)`` in async tests, ``f.result()``
elsewhere).
"""

import asyncio
import concurrent.futures
import contextlib
import hashlib
import hmac
import logging
import random
import uuid
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, TypeVar

import orjson
from aiohttp import WSMsgType, web

from bybit_client.enums import PRIVATE_STREAM_PATH, Category, Interval, public_stream_path
from bybit_client.streams.topics import MAX_ARGS_PER_REQUEST, ORDERBOOK_DEPTHS, PRIVATE_TOPICS
from bybit_client.testing.data import _hash, candle, candle_starts, ticker
from bybit_client.testing.exchange import FakeExchange
from bybit_client.testing.private_feed import PrivateFaults, PrivateFeed

T = TypeVar("T")
logger = logging.getLogger(__name__)

PUBLIC_PATHS = {public_stream_path(category): category.value for category in Category}
PRIVATE_PATH = PRIVATE_STREAM_PATH
INTERVALS = tuple(interval.value for interval in Interval)
BOOK_DEPTHS = tuple(str(depth) for depth in ORDERBOOK_DEPTHS)
BOOK_LEVELS = 25  # levels per side in a fresh book
BOOK_GRID = 40  # prices a delta may touch per side
FIRST_UPDATE_ID = 100


class StreamFault(StrEnum):
    DROP = "drop"
    SILENCE = "silence"
    ERROR_FRAME = "error_frame"
    CLOSE_1006 = "close_1006"
    SKIP_DELTA = "skip_delta"


@dataclass(eq=False)
class FakeConnection:
    """One open WebSocket connection as the fake sees it."""

    ws: web.WebSocketResponse
    path: str
    transport: asyncio.Transport | None
    conn_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    topics: set[str] = field(default_factory=set)
    api_key: str | None = None
    user_id: int | None = None
    silent: bool = False
    skip_deltas: int = 0
    held: dict[str, bytes] = field(default_factory=dict)  # private pushes held back, per topic (reorder)
    _outbox: "asyncio.Queue[bytes] | None" = None
    _writer: "asyncio.Task[None] | None" = None

    @property
    def private(self) -> bool:
        return self.path == PRIVATE_PATH

    def post(self, payload: bytes) -> None:
        """Queue a push: one writer per connection sends them in the order they were posted."""
        if self._outbox is None:
            self._outbox = asyncio.Queue()
            self._writer = asyncio.get_running_loop().create_task(self._write(self._outbox))
        self._outbox.put_nowait(payload)

    async def _write(self, outbox: "asyncio.Queue[bytes]") -> None:
        while not self.ws.closed:
            await self.send(await outbox.get())

    def stop(self) -> None:
        if self._writer is not None:
            self._writer.cancel()

    async def send(self, payload: bytes | str) -> None:
        if self.silent or self.ws.closed:
            return
        text = payload if isinstance(payload, str) else payload.decode()
        with contextlib.suppress(
            ConnectionError, RuntimeError
        ):  # the client went away: its handler cleans up
            await self.ws.send_str(text)


class FakeStreams:
    """The WebSocket hub of one ``FakeExchange``."""

    def __init__(self, exchange: FakeExchange) -> None:
        self.exchange = exchange
        self.loop: asyncio.AbstractEventLoop | None = None
        self.connections: set[FakeConnection] = set()
        self.connects: Counter[str] = Counter()
        self.kline_tick_seconds = 1.0
        self.kline_update_seconds = 1.0
        self.burst_on_subscribe = 0
        self.refuse_subscribes: Counter[str] = Counter()
        self._kline_last: dict[str, int] = {}
        self._kline_updated: dict[str, float] = {}
        self._books: dict[str, dict[str, dict[Decimal, Decimal]]] = {}
        self._book_ids: dict[str, int] = {}
        self._random = random.Random(7)  # noqa: S311 - market noise, not secrets
        self._ticker: asyncio.Task[None] | None = None
        self.private_feed = PrivateFeed(exchange.seed)
        exchange.engine.sink = self.private_feed.publish
        exchange.engine.audience = self.private_feed.audience

    # -- serving ---------------------------------------------------------------------------------

    def web_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/v5/public/{category}", self._handle)
        app.router.add_get(PRIVATE_PATH, self._handle)
        app.on_startup.append(self._on_startup)
        app.on_shutdown.append(self._on_shutdown)
        return app

    async def _on_startup(self, app: web.Application) -> None:
        self.loop = self.private_feed.loop = asyncio.get_running_loop()
        self._ticker = asyncio.create_task(self._kline_loop())

    async def _on_shutdown(self, app: web.Application) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        await self._close_all()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path != PRIVATE_PATH and path not in PUBLIC_PATHS:
            raise web.HTTPNotFound()
        transport = request.transport
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        connection = FakeConnection(ws, path, transport)
        self.connections.add(connection)
        self.connects[path] += 1
        try:
            async for frame in ws:
                if frame.type is WSMsgType.TEXT:
                    await self._on_request(connection, frame.data)
        except ConnectionResetError:
            pass  # the client went away mid-answer (a pong to a client that gave up): nothing to do
        finally:
            self.connections.discard(connection)
            self.private_feed.leave(connection)
            connection.stop()
        return ws

    async def _on_request(self, connection: FakeConnection, text: str) -> None:
        try:
            request = orjson.loads(text)
        except orjson.JSONDecodeError:
            await self._reply(connection, {"success": False, "ret_msg": "error:request not json", "op": ""})
            return
        op = request.get("op")
        req_id = request.get("req_id")
        args = request.get("args") or []
        if op == "ping":
            if connection.private:
                await self._reply(connection, {"op": "pong", "args": [str(self.exchange.wall_ms())]}, req_id)
            else:
                await self._reply(connection, {"success": True, "ret_msg": "pong", "op": "ping"}, req_id)
        elif op == "auth" and connection.private:
            problem = self._check_auth(args)
            if problem is None:
                connection.api_key = str(args[0])
                connection.user_id = self.exchange.keys[connection.api_key].user_id
                self.private_feed.join(connection.user_id, connection)
            await self._reply(
                connection, {"success": problem is None, "ret_msg": problem or "", "op": "auth"}, req_id
            )
        elif op in ("subscribe", "unsubscribe"):
            await self._subscription(connection, op, [str(arg) for arg in args], req_id)
        else:
            await self._reply(
                connection, {"success": False, "ret_msg": f"error:handler not found {op}", "op": op}
            )

    async def _reply(self, connection: FakeConnection, body: dict[str, Any], req_id: Any = None) -> None:
        body = {**body, "conn_id": connection.conn_id}
        if req_id is not None:
            body["req_id"] = req_id
        await connection.send(orjson.dumps(body))

    def _check_auth(self, args: list[Any]) -> str | None:
        if len(args) != 3:
            return "Params Error"
        api_key, expires, signature = str(args[0]), str(args[1]), str(args[2])
        key = self.exchange.keys.get(api_key)
        if key is None or key.network != self.exchange.network:
            return "Invalid apikey"
        if not expires.isdigit() or int(expires) <= self.exchange.wall_ms():
            return "Request expired"
        expected = hmac.new(
            key.secret.encode(), f"GET/realtime{expires}".encode(), hashlib.sha256
        ).hexdigest()
        if not hmac.compare_digest(expected, signature):
            return "Invalid sign"
        return None

    def _topic_problem(self, connection: FakeConnection, topic: str) -> str | None:
        if connection.private:
            if connection.api_key is None:
                return "Request not authorized"
            return None if topic.split(".", 1)[0] in PRIVATE_TOPICS else f"Invalid topic :[{topic}]"
        parts = topic.split(".")
        category = PUBLIC_PATHS[connection.path]
        symbols = {row["symbol"] for row in self.exchange.instruments.get(category, [])}
        shapes = {"kline": 3, "tickers": 2, "publicTrade": 2, "orderbook": 3}
        if shapes.get(parts[0]) != len(parts) or parts[-1] not in symbols:
            return f"Invalid symbol :[{topic}]"
        if parts[0] == "kline" and parts[1] not in INTERVALS:
            return f"Invalid interval :[{topic}]"
        if parts[0] == "orderbook" and parts[1] not in BOOK_DEPTHS:
            return f"Invalid depth :[{topic}]"
        return None

    async def _subscription(
        self, connection: FakeConnection, op: str, topics: list[str], req_id: Any
    ) -> None:
        problem = next(filter(None, (self._topic_problem(connection, topic) for topic in topics)), None)
        if op == "subscribe" and problem is None and self.refuse_subscribes[connection.path] > 0:
            self.refuse_subscribes[connection.path] -= 1
            problem = "error:service temporarily unavailable"
        if (
            op == "subscribe"
            and not connection.private
            and len(topics) > MAX_ARGS_PER_REQUEST
            and connection.path.endswith("spot")
        ):
            problem = "args size >10"
        if problem is None:
            if op == "subscribe":
                connection.topics.update(topics)
            else:
                connection.topics.difference_update(topics)
        await self._reply(
            connection, {"success": problem is None, "ret_msg": problem or "", "op": op}, req_id
        )
        if problem is None and op == "subscribe":
            for topic in topics:
                await self._first_push(connection, topic)

    async def _first_push(self, connection: FakeConnection, topic: str) -> None:
        kind = topic.split(".", 1)[0]
        if kind == "orderbook":
            await connection.send(
                self._book_message(topic, "snapshot", self._book(topic), self._book_ids[topic])
            )
        elif kind == "tickers":
            await connection.send(self._ticker_message(topic))
        if self.burst_on_subscribe and kind in ("kline", "tickers", "publicTrade"):
            payload = self._burst_message(topic)
            for _ in range(self.burst_on_subscribe):
                await connection.send(payload)

    # -- pushes ----------------------------------------------------------------------------------

    def _subscribers(self, topic: str, api_key: str | None = None) -> list[FakeConnection]:
        return [
            connection
            for connection in self.connections
            if topic in connection.topics and (api_key is None or connection.api_key == api_key)
        ]

    async def _push(self, topic: str, payload: bytes) -> int:
        subscribers = self._subscribers(topic)
        for connection in subscribers:
            await connection.send(payload)
        return len(subscribers)

    def _kline_message(self, topic: str, start: int, confirm: bool) -> bytes:
        _, interval, symbol = topic.split(".")
        row = candle(symbol, interval, start)
        now = self.exchange.now_ms()
        end = _candle_end(interval, start)
        item = {
            "start": start,
            "end": end,
            "interval": interval,
            "open": row[1],
            "close": row[4],
            "high": row[2],
            "low": row[3],
            "volume": row[5],
            "turnover": row[6],
            "confirm": confirm,
            "timestamp": now,
        }
        return orjson.dumps({"topic": topic, "data": [item], "ts": now, "type": "snapshot"})

    def _ticker_message(self, topic: str) -> bytes:
        symbol = topic.split(".", 1)[1]
        now = self.exchange.now_ms()
        return orjson.dumps(
            {"topic": topic, "type": "snapshot", "data": ticker(symbol), "cs": now, "ts": now}
        )

    def _trade_message(self, topic: str) -> bytes:
        symbol = topic.split(".", 1)[1]
        now = self.exchange.now_ms()
        price = ticker(symbol)["lastPrice"]
        trade = {
            "T": now,
            "s": symbol,
            "S": "Buy",
            "v": "0.01",
            "p": price,
            "L": "PlusTick",
            "i": str(uuid.uuid4()),
            "BT": False,
        }
        return orjson.dumps({"topic": topic, "type": "snapshot", "ts": now, "data": [trade]})

    def _burst_message(self, topic: str) -> bytes:
        kind = topic.split(".", 1)[0]
        if kind == "kline":
            interval = topic.split(".")[1]
            return self._kline_message(
                topic, candle_starts(interval, None, self.exchange.now_ms(), 1)[0], False
            )
        if kind == "tickers":
            return self._ticker_message(topic)
        return self._trade_message(topic)

    async def _kline_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.kline_tick_seconds)
            try:
                await self._kline_tick(loop.time())
            except Exception:  # a fake's push loop must survive a bad tick, and say so
                logger.exception("fake kline tick failed")

    async def _kline_tick(self, now_loop: float) -> None:
        # Every topic ever subscribed keeps its clock, as Bybit's candles close whether anybody
        # listens or not: a close while a client was away is not pushed again when it comes back.
        for connection in list(self.connections):
            for topic in connection.topics:
                if topic.startswith("kline.") and topic not in self._kline_last:
                    self._kline_last[topic] = -1
        now = self.exchange.now_ms()
        for topic in sorted(self._kline_last):
            interval = topic.split(".")[1]
            current = candle_starts(interval, None, now, 1)[0]
            last = self._kline_last[topic]
            self._kline_last[topic] = current
            if 0 <= last < current:
                closed = candle_starts(interval, last, current - 1, 1000)
                for start in sorted(start for start in closed if start < current):
                    await self._push(topic, self._kline_message(topic, start, True))
            elif now_loop - self._kline_updated.get(topic, 0.0) < self.kline_update_seconds:
                continue
            self._kline_updated[topic] = now_loop
            if self._subscribers(topic):
                await self._push(topic, self._kline_message(topic, current, False))

    def _book(self, topic: str) -> dict[str, dict[Decimal, Decimal]]:
        book = self._books.get(topic)
        if book is None:
            mid = Decimal(100_000 + _hash(topic.rsplit(".", 1)[1]) % 5_000_000) / 100
            tick = Decimal("0.5")
            book = {
                "b": {mid - tick * k: Decimal(k) / 10 for k in range(1, BOOK_LEVELS + 1)},
                "a": {mid + tick * k: Decimal(k) / 10 for k in range(1, BOOK_LEVELS + 1)},
                "mid": {mid: tick},
            }
            self._books[topic] = book
            self._book_ids[topic] = FIRST_UPDATE_ID
        return book

    def _book_message(
        self, topic: str, kind: str, levels: dict[str, dict[Decimal, Decimal]], update_id: int
    ) -> bytes:
        now = self.exchange.now_ms()
        data = {
            "s": topic.rsplit(".", 1)[1],
            "b": [[str(price), str(size)] for price, size in sorted(levels["b"].items(), reverse=True)],
            "a": [[str(price), str(size)] for price, size in sorted(levels["a"].items())],
            "u": update_id,
            "seq": update_id * 10,
        }
        return orjson.dumps({"topic": topic, "type": kind, "ts": now, "data": data, "cts": now})

    def book_levels(self, topic: str) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        """The fake's own book of a topic: bids best first, asks best first (to compare a client's)."""
        book = self._book(topic)
        return sorted(book["b"].items(), reverse=True), sorted(book["a"].items())

    async def _publish_deltas(self, topic: str, count: int, seed: int | None) -> int:
        rand = random.Random(seed) if seed is not None else self._random  # noqa: S311 - market noise
        book = self._book(topic)
        ((mid, tick),) = book["mid"].items()
        sent = 0
        for _ in range(count):
            change: dict[str, dict[Decimal, Decimal]] = {"b": {}, "a": {}}
            for side, sign in (("b", -1), ("a", 1)):
                for _ in range(rand.randint(0, 3)):
                    price = mid + sign * tick * rand.randint(1, BOOK_GRID)
                    size = Decimal(0) if rand.random() < 0.35 else Decimal(rand.randint(1, 5000)) / 1000
                    change[side][price] = size
                    if size:
                        book[side][price] = size
                    else:
                        book[side].pop(price, None)
            self._book_ids[topic] += 1
            payload = self._book_message(topic, "delta", change, self._book_ids[topic])
            for connection in self._subscribers(topic):
                if connection.skip_deltas > 0:
                    connection.skip_deltas -= 1
                    continue
                await connection.send(payload)
                sent += 1
        return sent

    # -- faults ----------------------------------------------------------------------------------

    async def _inject(self, fault: StreamFault, path: str | None, api_key: str | None) -> int:
        targets = [
            connection
            for connection in self.connections
            if path in (None, connection.path) and api_key in (None, connection.api_key)
        ]
        for connection in targets:
            if fault is StreamFault.DROP:
                await connection.ws.close(code=1001, message=b"going away")
            elif fault is StreamFault.SILENCE:
                connection.silent = True
            elif fault is StreamFault.ERROR_FRAME:
                self.refuse_subscribes[connection.path] += 1
                await connection.send(
                    orjson.dumps(
                        {
                            "success": False,
                            "ret_msg": "error:internal error",
                            "op": "",
                            "conn_id": connection.conn_id,
                        }
                    )
                )
                await connection.ws.close(code=1011, message=b"internal error")
            elif fault is StreamFault.CLOSE_1006:
                if connection.transport is not None:
                    connection.transport.abort()
            elif fault is StreamFault.SKIP_DELTA:
                connection.skip_deltas += 1
        return len(targets)

    async def _close_all(self) -> None:
        for connection in list(self.connections):
            await connection.ws.close(code=1001, message=b"server shutdown")

    async def _reset(self) -> None:
        await self._close_all()
        self.connects.clear()
        self.refuse_subscribes.clear()
        self._kline_last.clear()
        self._kline_updated.clear()
        self._books.clear()
        self._book_ids.clear()
        self.kline_tick_seconds = 1.0
        self.kline_update_seconds = 1.0
        self.burst_on_subscribe = 0
        self.private_feed.reset(self.exchange.seed)

    async def _publish_private(self, api_key: str, topic: str, data: list[dict[str, Any]]) -> int:
        subscribers = self._subscribers(topic, api_key)
        user_id = self.exchange.keys[api_key].user_id
        for connection in subscribers:
            self.private_feed.send(
                connection, topic, self.private_feed.payload(user_id, topic, self.exchange.now_ms(), data)
            )
        return len(subscribers)

    async def _publish(self, topic: str, payload: bytes) -> int:
        return await self._push(topic, payload)

    # -- controls (any thread) ---------------------------------------------------------------------

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> "concurrent.futures.Future[T]":
        if self.loop is None:
            coroutine.close()
            raise RuntimeError("the fake's streams are not serving (start the FakeBybit first)")
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def inject(
        self, fault: StreamFault | str, *, path: str | None = None, api_key: str | None = None
    ) -> "concurrent.futures.Future[int]":
        """Play ``fault`` on every open connection (of ``path``, of ``api_key``, if given); the count hit."""
        return self._call(self._inject(StreamFault(fault), path, api_key))

    def private_faults(
        self, *, duplicate: float = 0.0, reorder: float = 0.0, drop: float = 0.0, api_key: str | None = None
    ) -> None:
        """From now on duplicate, reorder or drop these shares of the private pushes (to ``api_key``'s
        connections, or all); drawn from the exchange's seed. All zero ends it."""
        self.private_feed.set_faults(PrivateFaults(duplicate, reorder, drop), api_key)

    def publish_orderbook_deltas(
        self, topic: str, count: int, *, seed: int | None = None
    ) -> "concurrent.futures.Future[int]":
        """Move a book by ``count`` random deltas, each pushed to the topic's subscribers."""
        return self._call(self._publish_deltas(topic, count, seed))

    def publish_trade(self, topic: str) -> "concurrent.futures.Future[int]":
        """Push one public trade on ``publicTrade.{symbol}``."""
        return self._call(self._publish(topic, self._trade_message(topic)))

    def publish_ticker(self, topic: str) -> "concurrent.futures.Future[int]":
        return self._call(self._publish(topic, self._ticker_message(topic)))

    def publish_private(
        self, api_key: str, topic: str, data: list[dict[str, Any]]
    ) -> "concurrent.futures.Future[int]":
        """Push ``data`` on a private topic to the connections logged in with ``api_key``."""
        return self._call(self._publish_private(api_key, topic, data))

    def reset(self) -> "concurrent.futures.Future[None]":
        return self._call(self._reset())

    def subscriptions(self, path: str | None = None) -> list[set[str]]:
        """The topics of each open connection (of ``path`` only, if given)."""
        return [
            set(connection.topics) for connection in list(self.connections) if path in (None, connection.path)
        ]


def _candle_end(interval: str, start: int) -> int:
    if interval == "M":
        month = candle_starts("M", None, start + 32 * 86_400_000, 1)[0]
        return month - 1
    if interval == "W":
        return start + 7 * 86_400_000 - 1
    if interval == "D":
        return start + 86_400_000 - 1
    return start + int(interval) * 60_000 - 1
