"""The fake Bybit V5 server as a bare ASGI app: checks signatures, timestamps and recv_window as
Bybit does, serves market data and key info, trades through the ``TradingEngine`` under Bybit's
per-account limits, and plays injected faults."""

import asyncio
import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

import orjson

from bybit_client.enums import KLINE_CATEGORIES, Category
from bybit_client.testing import params as read
from bybit_client.testing.data import candle_page, candle_starts, ticker
from bybit_client.testing.exchange import FakeExchange, FakeKey, RecordedRequest
from bybit_client.testing.faults import Fault
from bybit_client.testing.limits import BATCHES, Allowance, limited
from bybit_client.testing.params import Params
from bybit_client.testing.refusals import FakeError
from bybit_client.testing.shapes import text
from bybit_client.testing.trading_routes import TOO_MANY_VISITS, Route, TradingRoutes, WithExtInfo

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Answer = tuple[int, bytes, list[tuple[bytes, bytes]]]

JSON_HEADER = (b"content-type", b"application/json")
# A connection cut mid-answer: the status of the "answer" the ASGI side turns into that cut.
CUT: Answer = (0, b"", [])
CUT_NOTICE = "ASGI callable returned without completing response."


class QuietCuts(logging.Filter):
    """Drops uvicorn's error line for an answer the fake cut on purpose (``Fault.RESET``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != CUT_NOTICE


class FakeBybitApp:
    """ASGI callable serving one ``FakeExchange``."""

    def __init__(self, exchange: FakeExchange) -> None:
        self.exchange = exchange
        public: dict[tuple[str, str], Callable[[Params], Any]] = {
            ("GET", "/v5/market/time"): self._time,
            ("GET", "/v5/market/instruments-info"): self._instruments,
            ("GET", "/v5/market/tickers"): self._tickers,
            ("GET", "/v5/market/kline"): self._klines,
        }
        private: dict[tuple[str, str], Route] = {
            ("GET", "/v5/user/query-api"): self._query_api,
            **TradingRoutes(exchange.engine, exchange.now_ms).routes(),
        }
        self.public = public
        self.private = private

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {
            name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]
        }
        status, payload, extra = await self.answer(
            scope["method"], scope["path"], scope["query_string"].decode("latin-1"), body, headers
        )
        if status == CUT[0]:
            # Headers and half a body, then nothing: the server closes the connection mid-answer.
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [JSON_HEADER, (b"content-length", b"64")],
                }
            )
            await send({"type": "http.response.body", "body": b'{"retCode":0,', "more_body": True})
            return
        await send({"type": "http.response.start", "status": status, "headers": [JSON_HEADER, *extra]})
        await send({"type": "http.response.body", "body": payload})

    async def answer(
        self, method: str, path: str, query: str, body: bytes, headers: dict[str, str]
    ) -> Answer:
        exchange = self.exchange
        api_key = headers.get("x-bapi-api-key")
        exchange.record(RecordedRequest(method, path, query, body, api_key, exchange.wall_ms()))
        if exchange.delay_seconds:
            await asyncio.sleep(exchange.delay_seconds)
        verdict = exchange.rate_verdict(path)
        if verdict is not None:
            if verdict.outcome == "banned":
                return 403, b"access too frequent", []
            if verdict.outcome == "refused":
                spent = self._limit_headers(0, verdict.reset_ms, verdict.limit)
                return self._envelope(10006, "Too many visits!", {}, spent)
        fault = exchange.take_fault(path, api_key)
        if fault is not None and not fault.processes:
            return await self._fault(fault)
        if fault is Fault.SLOW:
            await asyncio.sleep(exchange.slow_seconds)
        answer = self._process(method, path, query, body, headers, verdict)
        if fault is Fault.LOST_ANSWER:
            await asyncio.sleep(exchange.slow_seconds)
        elif fault is Fault.RESET_AFTER_ACCEPT:
            return CUT
        return answer

    def _process(
        self, method: str, path: str, query: str, body: bytes, headers: dict[str, str], verdict: Any
    ) -> Answer:
        signed = (method, path) in self.private
        if not signed and (method, path) not in self.public:
            known_path = any(route_path == path for _, route_path in (*self.public, *self.private))
            return (400 if known_path else 404), b"", []
        # In the rate-limit mode every answer announces the endpoint's limit; else signed ones only.
        limits: list[tuple[bytes, bytes]] = []
        if verdict is not None:
            limits = self._limit_headers(verdict.remaining, verdict.reset_ms, verdict.limit)
        try:
            params = self._params(method, query, body)
            if not signed:
                return self._envelope(0, "OK", self.public[(method, path)](params), limits)
            key = self._authenticate(headers, query if method == "GET" else body.decode(errors="replace"))
            if method == "POST" and key.read_only:  # every private POST here trades
                raise FakeError(10005, "Permission denied, please check your API key permissions.")
            allowance = self._allowance(path, params, key)
            if allowance is not None:
                limits = allowance.headers()
                if allowance.refused:
                    return self._envelope(*TOO_MANY_VISITS, {}, limits)
            result = self.private[(method, path)](params, key, allowance)
            if isinstance(result, WithExtInfo):
                return self._envelope(
                    0, "OK", result.result, limits or self._limit_headers(), result.ext_info
                )
            return self._envelope(0, "OK", result, limits or self._limit_headers())
        except FakeError as error:
            return self._envelope(error.ret_code, error.ret_msg, {}, limits)

    def _allowance(self, path: str, params: Params, key: FakeKey) -> Allowance | None:
        """Bybit's per-account limit of ``path`` (None: the endpoint has none here)."""
        exchange = self.exchange
        if not limited(path) or not exchange.uid_limits.scale:
            return None
        category = params.get("category")
        known = Category(category) if category in {member.value for member in Category} else None
        cost = len(params["request"]) if path in BATCHES and isinstance(params.get("request"), list) else 1
        return exchange.uid_limits.take(key.user_id, path, known, max(cost, 1), exchange.wall_ms())

    # -- envelope, faults, auth -----------------------------------------------------------------

    def _envelope(
        self,
        code: int,
        message: str,
        result: Any,
        extra: list[tuple[bytes, bytes]] | None = None,
        ext_info: Any = None,
    ) -> Answer:
        envelope = {
            "retCode": code,
            "retMsg": message,
            "result": result,
            "retExtInfo": ext_info if ext_info is not None else {},
            "time": self.exchange.wall_ms(),
        }
        return 200, orjson.dumps(envelope), extra or []

    def _limit_headers(
        self, remaining: int | None = None, reset_ms: int | None = None, limit: int | None = None
    ) -> list[tuple[bytes, bytes]]:
        now = self.exchange.wall_ms()
        limit = self.exchange.rate_limit if limit is None else limit
        return [
            (b"x-bapi-limit", str(limit).encode()),
            (b"x-bapi-limit-status", str(limit - 1 if remaining is None else remaining).encode()),
            (b"x-bapi-limit-reset-timestamp", str(reset_ms if reset_ms is not None else now + 1000).encode()),
        ]

    async def _fault(self, fault: Fault) -> Answer:  # noqa: PLR0911 - one answer per fault kind
        now = self.exchange.wall_ms()
        if fault is Fault.CLOCK_SKEW:
            message = f"invalid request, please check your server timestamp. server_timestamp[{now}]"
            return self._envelope(10002, message, {})
        if fault in (Fault.RATE_LIMIT_RESET_PAST, Fault.RATE_LIMIT_RESET_FUTURE):
            ahead = self.exchange.rate_limit_reset_ms
            reset = now - 5_000 if fault is Fault.RATE_LIMIT_RESET_PAST else now + ahead
            return self._envelope(10006, "Too many visits!", {}, self._limit_headers(0, reset))
        if fault is Fault.HTTP_403:
            return 403, b"access too frequent", []
        if fault is Fault.HTTP_429:
            return 429, b"", []
        if fault is Fault.HTTP_5XX:
            return 502, b"<html><body>502 Bad Gateway</body></html>", [(b"content-type", b"text/html")]
        if fault is Fault.SERVER_TIMEOUT:
            return self._envelope(10000, "Server Timeout", {})
        if fault is Fault.TIMEOUT_BEFORE:
            await asyncio.sleep(self.exchange.slow_seconds)  # the client gave up; nothing was done
            return 504, b"<html><body>504 Gateway Time-out</body></html>", [(b"content-type", b"text/html")]
        if fault is Fault.RESET:
            return CUT
        return 200, b'{"retCode":0,"retMsg":"OK","result":{"list":[', []

    def _authenticate(self, headers: dict[str, str], payload: str) -> FakeKey:
        api_key = headers.get("x-bapi-api-key")
        timestamp = headers.get("x-bapi-timestamp", "")
        signature = headers.get("x-bapi-sign", "")
        recv_window = headers.get("x-bapi-recv-window", "5000")
        if not api_key or not signature or not timestamp.isdigit() or not recv_window.isdigit():
            raise FakeError(10003, "API key is invalid.")
        now = self.exchange.wall_ms()
        stamp, window = int(timestamp), int(recv_window)
        if not now - window <= stamp < now + 1000:
            raise FakeError(
                10002,
                "invalid request, please check your server timestamp or recv_window param. "
                f"req_timestamp[{stamp}],server_timestamp[{now}],recv_window[{window}]",
            )
        key = self.exchange.keys.get(api_key)
        if key is None or key.network != self.exchange.network:
            raise FakeError(10003, "API key is invalid.")
        origin = f"{timestamp}{api_key}{recv_window}{payload}"
        expected = hmac.new(key.secret.encode(), origin.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            raise FakeError(10004, f"error sign! origin_string[{origin}]")
        return key

    @staticmethod
    def _params(method: str, query: str, body: bytes) -> Params:
        if method == "GET":
            return dict(parse_qsl(query, keep_blank_values=True))
        try:
            data = orjson.loads(body or b"{}")
        except orjson.JSONDecodeError:
            raise FakeError(10001, "params error: body is not JSON") from None
        if not isinstance(data, dict):
            raise FakeError(10001, "params error: body is not an object")
        return {str(key): _field(value) for key, value in data.items()}

    # -- market ---------------------------------------------------------------------------------

    def _time(self, params: Params) -> Any:
        now = self.exchange.wall_ms()
        return {"timeSecond": str(now // 1000), "timeNano": str(now * 1_000_000)}

    def _instruments(self, params: Params) -> Any:
        category = read.category(params)
        rows = self.exchange.instruments.get(category, [])
        for name, field_name in (("symbol", "symbol"), ("status", "status"), ("baseCoin", "baseCoin")):
            if params.get(name):
                rows = [row for row in rows if row.get(field_name) == params[name]]
        page, cursor = read.offset_page(rows, params, 500, 1000)
        return {"category": category, "list": page, "nextPageCursor": cursor}

    def _tickers(self, params: Params) -> Any:
        category = read.category(params)
        symbols = [row["symbol"] for row in self.exchange.instruments.get(category, [])]
        if params.get("symbol"):
            if params["symbol"] not in symbols:
                raise FakeError(10001, "Not supported symbols")
            symbols = [params["symbol"]]
        return {"category": category, "list": [self._ticker(category, symbol) for symbol in symbols]}

    def _ticker(self, category: Category, symbol: str) -> dict[str, str]:
        """The data's ticker, at the price the exchange trades the symbol at once it does."""
        row = ticker(symbol)
        price = self.exchange.engine.last_price(category, symbol)
        if price is not None:
            tick = self.exchange.engine.market(category, symbol).rules.tick_size
            row.update(
                lastPrice=text(price),
                markPrice=text(price),
                bid1Price=text(price - tick),
                ask1Price=text(price + tick),
            )
        return row

    def _klines(self, params: Params) -> Any:
        category = params.get("category") or Category.LINEAR
        if category not in KLINE_CATEGORIES:
            raise FakeError(10001, "params error: category invalid")
        symbol, interval = params.get("symbol", ""), params.get("interval", "")
        if not symbol:
            raise FakeError(10001, "params error: symbol is required")
        if not any(row.get("symbol") == symbol for row in self.exchange.instruments.get(category, [])):
            raise FakeError(10001, "Not supported symbols")  # as Bybit answers for an unlisted symbol
        if interval not in ("1", "3", "5", "15", "30", "60", "120", "240", "360", "720", "D", "W", "M"):
            raise FakeError(10001, "params error: interval invalid")
        limit = read.limit(params, 200, 1000)
        now = self.exchange.now_ms()
        end = min(read.integer(params, "end", now), now)
        start = read.integer(params, "start") if params.get("start") else None
        starts = candle_starts(interval, start, end, limit)
        rows = candle_page(symbol, interval, starts[-1], starts[0], len(starts)) if starts else []
        return {"category": category, "symbol": symbol, "list": rows}

    # -- private --------------------------------------------------------------------------------

    def _query_api(self, params: Params, key: FakeKey, allowance: Allowance | None) -> Any:
        return {
            "id": str(key.user_id * 10),
            "note": "fake",
            "apiKey": key.api_key,
            "readOnly": 1 if key.read_only else 0,
            "secret": "",
            "permissions": key.permissions,
            "ips": key.ips,
            "type": 1,
            "deadlineDay": 83 if key.expired_at else -1,
            "expiredAt": key.expired_at,
            "createdAt": "2025-01-01T00:00:00Z",
            "unified": 0,
            "uta": 1,
            "userID": key.user_id,
            "inviterID": 0,
            "vipLevel": "No VIP",
            "mktMakerLevel": "0",
            "affiliateID": 0,
            "rsaPublicKey": "",
            "isMaster": True,
        }


def _field(value: object) -> object:
    """A body field as the handlers read it: text, but a batch's list of orders as it is."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, list | dict) else str(value)
