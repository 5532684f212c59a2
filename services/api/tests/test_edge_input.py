"""Input checked where it enters: out-of-range ids, NUL and lone surrogates, crafted cursors and
bodies past the limit are 4xx answers in the error shape, never a 500 and never a Bybit call."""

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
from starlette.types import Message, Receive, Scope, Send
from test_support.tokens import Tokens

from api_service.body_limit import BodyLimitMiddleware
from api_service.task_queue import describe_failure
from bybit_client.testing import FakeBybit

TOO_BIG = "7886360046832982484235296178176"


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


async def test_ids_past_bigint_are_422(client: httpx.AsyncClient, tokens: Tokens) -> None:
    auth = tokens.user_auth
    assert_error(
        await client.delete(f"/v1/me/bybit-credentials/{TOO_BIG}", headers=auth), 422, "validation_error"
    )
    wallet = await client.get("/v1/me/wallet-balance", params={"credential_id": TOO_BIG}, headers=auth)
    assert_error(wallet, 422, "validation_error")
    largest = await client.delete(f"/v1/me/bybit-credentials/{2**63 - 1}", headers=auth)
    assert_error(largest, 404, "credential_not_found")  # in range: looked up, not found


async def test_nul_and_lone_surrogates_are_refused_before_bybit(
    client: httpx.AsyncClient, tokens: Tokens, fake_bybit: FakeBybit
) -> None:
    base = {"api_key": "TESTKEY0123", "api_secret": "secret-0123", "label": "main"}
    for field, value in (("label", "a\u0000b"), ("api_secret", "abc\ud800def"), ("label", "\udfff")):
        # json.dumps writes a lone surrogate as the escape \ud800, as a crafted request would.
        body = json.dumps({**base, field: value})
        headers = {**tokens.user_auth, "content-type": "application/json"}
        response = await client.put("/v1/me/bybit-credentials", content=body, headers=headers)
        assert_error(response, 422, "validation_error")
        assert "\\ud800" not in response.text  # the input is not echoed
    assert fake_bybit.count("/v5/user/query-api") == 0


async def test_crafted_cursors_are_400(client: httpx.AsyncClient) -> None:
    for cursor in ("WyJcdTAwMDAiLCJ4Il0", "WyJcdWQ4MDAiLCJ4Il0", "bm90IGpzb24", "%00"):
        response = await client.get("/v1/market/instruments", params={"cursor": cursor})
        assert_error(response, 400, "invalid_cursor")


async def test_a_body_past_the_limit_is_413_before_authentication(client: httpx.AsyncClient) -> None:
    body = b'{"label": "' + b"x" * 20_000 + b'"}'
    declared = await client.put(
        "/v1/me/bybit-credentials", content=body, headers={"content-type": "application/json"}
    )
    assert_error(declared, 413, "request_entity_too_large")  # no token: the size is checked first

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while read
        for _ in range(40):
            yield b"x" * 1024

    streamed = await client.put(
        "/v1/me/bybit-credentials", content=chunks(), headers={"content-type": "application/json"}
    )
    assert_error(streamed, 413, "request_entity_too_large")


def test_task_failures_are_told_in_words() -> None:
    class SyncFailedError(Exception):
        pass

    worded = SyncFailedError("klines linear NOSUCHUSDT 60: Bybit refused the request")
    assert describe_failure("FAILURE", worded) == str(worded)
    internal = ConnectionError("could not connect to db-internal.example:5432")
    assert "db-internal" not in describe_failure("FAILURE", internal)
    assert "expired" in describe_failure("REVOKED", None)


async def test_a_body_without_length_headers_is_counted_unless_http_1_rules_it_out() -> None:
    """HTTP/1 has no body without Content-Length or Transfer-Encoding, so such a request is passed
    on as it is; any other protocol's body is counted as it arrives all the same."""

    async def reader(scope: Scope, receive: Receive, send: Send) -> None:
        while (await receive())["more_body"]:
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"read"})

    async def serve(http_version: str) -> int:
        chunk: Message = {"type": "http.request", "body": b"x" * 600, "more_body": True}
        messages = iter([chunk, chunk, {"type": "http.request", "body": b"", "more_body": False}])
        statuses: list[int] = []

        async def receive() -> Message:
            return next(messages)

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        scope: Scope = {"type": "http", "http_version": http_version, "method": "POST", "headers": []}
        await BodyLimitMiddleware(reader, max_bytes=1000, timeout=10)(scope, receive, send)
        return statuses[0]

    assert await serve("2") == 413
    assert await serve("1.1") == 200  # an HTTP/1.1 server never hands such a body on


async def test_the_body_deadline_ends_with_the_body() -> None:
    # Once the whole body is in, waiting for the disconnect (a streaming answer does) is no stall.
    messages = [{"type": "http.request", "body": b"{}", "more_body": False}]
    disconnected = asyncio.Event()

    async def receive() -> Message:
        if messages:
            return messages.pop()
        await disconnected.wait()
        return {"type": "http.disconnect"}

    seen: list[str] = []

    async def reader(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append((await receive())["type"])
        asyncio.get_running_loop().call_later(0.3, disconnected.set)
        seen.append((await receive())["type"])  # past the 0.1 s deadline: no 408

    async def send(message: Message) -> None:
        seen.append(message["type"])

    headers = [(b"content-length", b"2")]
    scope: Scope = {"type": "http", "http_version": "1.1", "method": "POST", "headers": headers}
    await BodyLimitMiddleware(reader, max_bytes=1000, timeout=0.1)(scope, receive, send)
    assert seen == ["http.request", "http.disconnect"]
