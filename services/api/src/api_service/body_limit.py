"""The request body's bounds, size and time, enforced as the body arrives: before it is parsed,
before authentication.

A declared ``Content-Length`` over the limit is refused at once, without reading a byte of the body;
a body without one (chunked) is counted as it is read and refused the moment it passes the limit,
so a large body never sits in memory. Either way the answer is a 413 in the error shape.

The whole body must arrive within ``API_BODY_TIMEOUT`` seconds of the request's headers: a sender
that stops (or trickles a byte now and then) is answered 408 and the connection closed, so it
holds a connection and a task for that long at most. Uvicorn has no such timeout of its own.
"""

import asyncio

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api_service.errors import error_response

_CODE = "request_entity_too_large"
_CODES = {413: _CODE, 408: "request_timeout"}
# The rest of the body is never read, so the connection cannot carry another request.
_CLOSE = {"Connection": "close"}
_HTTP_1 = ("1.0", "1.1")


class BodyTooLargeError(HTTPException):
    """The body passed the limit while it was being read. An ``HTTPException``, so that FastAPI,
    reading the body, lets it through to the error handlers (any other error becomes its 400)."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"the request body is larger than {max_bytes} bytes", headers=_CLOSE)


class BodyTimeoutError(HTTPException):
    """The body did not arrive in time; an ``HTTPException`` for the same reason."""

    def __init__(self, seconds: float) -> None:
        super().__init__(408, f"the request body did not arrive within {seconds:g} s", headers=_CLOSE)


def _body_headers(scope: Scope) -> tuple[int | None, bool]:
    """The declared ``Content-Length`` (None when absent or not a number), and whether the request
    says it has a body at all (``Content-Length`` or ``Transfer-Encoding``)."""
    declared: int | None = None
    framed = False
    for name, value in scope["headers"]:
        if name == b"content-length" and not framed:
            framed = True
            try:
                declared = int(value)
            except ValueError:
                declared = None
        elif name == b"transfer-encoding":
            framed = True
    return declared, framed


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int, timeout: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout

    def _too_large(self) -> ASGIApp:
        message = f"the request body is larger than {self.max_bytes} bytes"
        return error_response(413, _CODE, message, headers=_CLOSE)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared, framed = _body_headers(scope)
        if declared is not None and declared > self.max_bytes:
            await self._too_large()(scope, receive, send)
            return
        if not framed and scope.get("http_version") in _HTTP_1:
            # Without either header an HTTP/1 request has no body (RFC 9112, 6.3): nothing to count.
            await self.app(scope, receive, send)
            return
        received = 0
        started = False
        complete = False
        deadline = asyncio.get_running_loop().time() + self.timeout

        async def counting_receive() -> Message:
            nonlocal received, complete
            if complete:  # the body is all here: what is awaited now (a disconnect) has no deadline
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise BodyTimeoutError(self.timeout) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLargeError(self.max_bytes)
                complete = not message.get("more_body", False)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except (BodyTooLargeError, BodyTimeoutError) as exc:
            if started:
                raise
            status = exc.status_code
            await error_response(status, _CODES[status], exc.detail, headers=_CLOSE)(scope, receive, send)
