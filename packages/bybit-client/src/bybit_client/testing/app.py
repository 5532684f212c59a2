"""The fake Bybit V5 server as a bare ASGI app: checks signatures, timestamps and recv_window as
Bybit does, serves market data, key info, balances and orders, and plays injected faults."""

import asyncio
import hashlib
import hmac
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl, quote

import orjson

from bybit_client.enums import KLINE_CATEGORIES, Category
from bybit_client.testing.data import candle_page, candle_starts, ticker
from bybit_client.testing.exchange import FakeExchange, FakeKey, Fault, RecordedRequest

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Params = dict[str, str]
Answer = tuple[int, bytes, list[tuple[bytes, bytes]]]

USD_PRICES = {"USDT": Decimal(1), "USDC": Decimal(1), "BTC": Decimal(60000), "ETH": Decimal(3000)}
JSON_HEADER = (b"content-type", b"application/json")


class FakeError(Exception):
    def __init__(self, ret_code: int, ret_msg: str) -> None:
        super().__init__(ret_msg)
        self.ret_code = ret_code
        self.ret_msg = ret_msg


def _cursor(offset: int) -> str:
    # Bybit's cursors arrive percent-encoded inside the JSON; clients must send them back as they are.
    return quote(f"{offset}:1,{offset}:1", safe="")


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    head = cursor.split(",", 1)[0].split(":", 1)[0]
    if not head.isdigit():
        raise FakeError(10001, "params error: cursor invalid")
    return int(head)


def _page(rows: list[Any], params: Params, default: int, maximum: int) -> tuple[list[Any], str]:
    limit = _int(params, "limit", default)
    if not 1 <= limit <= maximum:
        raise FakeError(10001, f"params error: limit must be 1..{maximum}")
    offset = _offset(params.get("cursor"))
    end = offset + limit
    return rows[offset:end], _cursor(end) if end < len(rows) else ""


def _int(params: Params, name: str, default: int | None = None) -> int:
    value = params.get(name)
    if value is None or value == "":
        if default is None:
            raise FakeError(10001, f"params error: {name} is required")
        return default
    if not value.lstrip("-").isdigit():
        raise FakeError(10001, f"params error: {name} invalid")
    return int(value)


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
        private: dict[tuple[str, str], Callable[[Params, FakeKey], Any]] = {
            ("GET", "/v5/user/query-api"): self._query_api,
            ("GET", "/v5/account/wallet-balance"): self._wallet_balance,
            ("POST", "/v5/order/create"): self._create_order,
            ("POST", "/v5/order/cancel"): self._cancel_order,
            ("GET", "/v5/order/realtime"): self._open_orders,
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
        await send({"type": "http.response.start", "status": status, "headers": [JSON_HEADER, *extra]})
        await send({"type": "http.response.body", "body": payload})

    async def answer(  # noqa: PLR0911 - one answer per outcome
        self, method: str, path: str, query: str, body: bytes, headers: dict[str, str]
    ) -> Answer:
        exchange = self.exchange
        exchange.record(
            RecordedRequest(method, path, query, body, headers.get("x-bapi-api-key"), exchange.now_ms())
        )
        if exchange.delay_seconds:
            await asyncio.sleep(exchange.delay_seconds)
        verdict = exchange.rate_verdict(path)
        if verdict is not None:
            if verdict.outcome == "banned":
                return 403, b"access too frequent", []
            if verdict.outcome == "refused":
                spent = self._limit_headers(0, verdict.reset_ms, verdict.limit)
                return self._envelope(10006, "Too many visits!", {}, spent)
        fault = exchange.take_fault(path)
        if fault is Fault.SLOW:
            await asyncio.sleep(exchange.slow_seconds)
        elif fault is not None:
            return self._fault(fault)
        signed = (method, path) in self.private
        if not signed and (method, path) not in self.public:
            known_path = any(route_path == path for _, route_path in (*self.public, *self.private))
            return (400 if known_path else 404), b"", []
        # In the rate-limit mode every answer announces the endpoint's limit; else signed ones only.
        limits: list[tuple[bytes, bytes]] = []
        if verdict is not None:
            limits = self._limit_headers(verdict.remaining, verdict.reset_ms, verdict.limit)
        try:
            if signed:
                key = self._authenticate(headers, query if method == "GET" else body.decode(errors="replace"))
                result = self.private[(method, path)](self._params(method, query, body), key)
                return self._envelope(0, "OK", result, limits or self._limit_headers())
            result = self.public[(method, path)](self._params(method, query, body))
            return self._envelope(0, "OK", result, limits)
        except FakeError as error:
            return self._envelope(error.ret_code, error.ret_msg, {}, limits)

    # -- envelope, faults, auth -----------------------------------------------------------------

    def _envelope(
        self, code: int, message: str, result: Any, extra: list[tuple[bytes, bytes]] | None = None
    ) -> Answer:
        envelope = {
            "retCode": code,
            "retMsg": message,
            "result": result,
            "retExtInfo": {},
            "time": self.exchange.now_ms(),
        }
        return 200, orjson.dumps(envelope), extra or []

    def _limit_headers(
        self, remaining: int | None = None, reset_ms: int | None = None, limit: int | None = None
    ) -> list[tuple[bytes, bytes]]:
        now = self.exchange.now_ms()
        limit = self.exchange.rate_limit if limit is None else limit
        return [
            (b"x-bapi-limit", str(limit).encode()),
            (b"x-bapi-limit-status", str(limit - 1 if remaining is None else remaining).encode()),
            (b"x-bapi-limit-reset-timestamp", str(reset_ms if reset_ms is not None else now + 1000).encode()),
        ]

    def _fault(self, fault: Fault) -> Answer:  # noqa: PLR0911 - one answer per fault kind
        now = self.exchange.now_ms()
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
        return 200, b'{"retCode":0,"retMsg":"OK","result":{"list":[', []

    def _authenticate(self, headers: dict[str, str], payload: str) -> FakeKey:
        api_key = headers.get("x-bapi-api-key")
        timestamp = headers.get("x-bapi-timestamp", "")
        signature = headers.get("x-bapi-sign", "")
        recv_window = headers.get("x-bapi-recv-window", "5000")
        if not api_key or not signature or not timestamp.isdigit() or not recv_window.isdigit():
            raise FakeError(10003, "API key is invalid.")
        now = self.exchange.now_ms()
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
        return {str(key): str(value) for key, value in data.items()}

    # -- market ---------------------------------------------------------------------------------

    def _time(self, params: Params) -> Any:
        now = self.exchange.now_ms()
        return {"timeSecond": str(now // 1000), "timeNano": str(now * 1_000_000)}

    def _category(self, params: Params, allowed: tuple[str, ...]) -> str:
        category = params.get("category", "")
        if category not in allowed:
            raise FakeError(10001, "params error: category invalid")
        return category

    def _instruments(self, params: Params) -> Any:
        category = self._category(params, tuple(Category))
        rows = self.exchange.instruments.get(category, [])
        for name, field_name in (("symbol", "symbol"), ("status", "status"), ("baseCoin", "baseCoin")):
            if params.get(name):
                rows = [row for row in rows if row.get(field_name) == params[name]]
        page, cursor = _page(rows, params, 500, 1000)
        return {"category": category, "list": page, "nextPageCursor": cursor}

    def _tickers(self, params: Params) -> Any:
        category = self._category(params, tuple(Category))
        symbols = [row["symbol"] for row in self.exchange.instruments.get(category, [])]
        if params.get("symbol"):
            if params["symbol"] not in symbols:
                raise FakeError(10001, "Not supported symbols")
            symbols = [params["symbol"]]
        return {"category": category, "list": [ticker(symbol) for symbol in symbols]}

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
        limit = _int(params, "limit", 200)
        if not 1 <= limit <= 1000:
            raise FakeError(10001, "params error: limit must be 1..1000")
        now = self.exchange.now_ms()
        end = min(_int(params, "end", now), now)
        start = _int(params, "start") if params.get("start") else None
        starts = candle_starts(interval, start, end, limit)
        rows = candle_page(symbol, interval, starts[-1], starts[0], len(starts)) if starts else []
        return {"category": category, "symbol": symbol, "list": rows}

    # -- private --------------------------------------------------------------------------------

    def _query_api(self, params: Params, key: FakeKey) -> Any:
        return {
            "id": str(key.user_id * 10),
            "note": "fake",
            "apiKey": key.api_key,
            "readOnly": 1 if key.read_only else 0,
            "secret": "",
            "permissions": key.permissions,
            "ips": ["*"],
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

    def _wallet_balance(self, params: Params, key: FakeKey) -> Any:
        if params.get("accountType") != "UNIFIED":
            raise FakeError(10001, "accountType only support UNIFIED.")
        wanted = {coin for coin in params.get("coin", "").split(",") if coin}
        coins = []
        total = Decimal(0)
        for coin, amount in key.balances.items():
            usd = Decimal(amount) * USD_PRICES.get(coin, Decimal(1))
            total += usd
            if wanted and coin not in wanted:
                continue
            coins.append(
                {
                    "coin": coin,
                    "equity": amount,
                    "usdValue": str(usd),
                    "walletBalance": amount,
                    "locked": "0",
                    "borrowAmount": "0",
                    "availableToWithdraw": "",
                    "unrealisedPnl": "0",
                    "cumRealisedPnl": "0",
                }
            )
        account = {
            "accountType": "UNIFIED",
            "totalEquity": str(total),
            "totalWalletBalance": str(total),
            "totalAvailableBalance": str(total),
            "totalMarginBalance": str(total),
            "coin": coins,
        }
        return {"list": [account]}

    def _trading_key(self, key: FakeKey) -> None:
        if key.read_only:
            raise FakeError(10005, "Permission denied, please check your API key permissions.")

    def _create_order(self, params: Params, key: FakeKey) -> Any:
        self._trading_key(key)
        category = self._category(params, tuple(Category))
        symbol = params.get("symbol", "")
        if symbol not in {row["symbol"] for row in self.exchange.instruments.get(category, [])}:
            raise FakeError(10001, "params error: symbol invalid")
        if params.get("side") not in ("Buy", "Sell") or params.get("orderType") not in ("Market", "Limit"):
            raise FakeError(10001, "params error: side or orderType invalid")
        try:
            qty = Decimal(params.get("qty", ""))
            price = Decimal(params["price"]) if params.get("price") else None
        except InvalidOperation:
            raise FakeError(10001, "params error: qty or price invalid") from None
        if qty <= 0 or (params["orderType"] == "Limit" and price is None):
            raise FakeError(10001, "params error: qty or price invalid")
        link_id = params.get("orderLinkId") or ""
        orders = self.exchange.orders.setdefault(key.api_key, {})
        if link_id and any(order["orderLinkId"] == link_id for order in orders.values()):
            raise FakeError(110072, "OrderLinkedID is duplicate")
        now = str(self.exchange.now_ms())
        order_id = str(uuid.uuid4())
        orders[order_id] = {
            "category": category,
            "orderId": order_id,
            "orderLinkId": link_id,
            "symbol": symbol,
            "side": params["side"],
            "orderType": params["orderType"],
            "price": str(price) if price is not None else "",
            "qty": str(qty),
            "orderStatus": "New" if params["orderType"] == "Limit" else "Filled",
            "timeInForce": params.get("timeInForce", "GTC"),
            "cumExecQty": "0",
            "createdTime": now,
            "updatedTime": now,
        }
        if self.exchange.on_order is not None:
            self.exchange.on_order(key.api_key, dict(orders[order_id]))
        return {"orderId": order_id, "orderLinkId": link_id}

    def _cancel_order(self, params: Params, key: FakeKey) -> Any:
        self._trading_key(key)
        for order in self.exchange.orders.get(key.api_key, {}).values():
            same = order["orderId"] == params.get("orderId") or (
                params.get("orderLinkId") and order["orderLinkId"] == params.get("orderLinkId")
            )
            if same and order["symbol"] == params.get("symbol") and order["orderStatus"] == "New":
                order["orderStatus"] = "Cancelled"
                order["updatedTime"] = str(self.exchange.now_ms())
                if self.exchange.on_order is not None:
                    self.exchange.on_order(key.api_key, dict(order))
                return {"orderId": order["orderId"], "orderLinkId": order["orderLinkId"]}
        raise FakeError(110001, "Order does not exist.")

    def _open_orders(self, params: Params, key: FakeKey) -> Any:
        category = self._category(params, tuple(Category))
        rows = [
            {name: value for name, value in order.items() if name != "category"}
            for order in self.exchange.orders.get(key.api_key, {}).values()
            if order["category"] == category
            and order["orderStatus"] == "New"
            and params.get("symbol") in (None, "", order["symbol"])
            and params.get("orderLinkId") in (None, "", order["orderLinkId"])
        ]
        page, cursor = _page(rows, params, 20, 50)
        return {"category": category, "list": page, "nextPageCursor": cursor}
