"""The outermost ASGI middleware: request id, access log line, and the log of unhandled errors.

Written as plain ASGI (not ``BaseHTTPMiddleware``) because it runs on every request. It sits
outside Starlette's own error middleware so that even a 500 carries the request id.
"""

from time import perf_counter

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api_service.errors import internal_error_response
from api_service.request_id import REQUEST_ID_HEADER, request_id_for
from core_config import REQUEST_ID, get_logger
from core_telemetry import trace_fields

access_logger = get_logger("api.access")
error_logger = get_logger("api.errors")
_HEADER_NAME = REQUEST_ID_HEADER.lower().encode()


class RequestContextMiddleware:
    """``traced``: the access line carries the trace id and span id of FastAPI's server span, read
    when the answer starts (the line itself is written after that span has ended)."""

    def __init__(self, app: ASGIApp, *, traced: bool = False) -> None:
        self.app = app
        self.traced = traced

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_for(scope)
        header = (_HEADER_NAME, request_id.encode())
        status = 0
        traced = self.traced
        trace: dict[str, str] = {}

        async def send_with_id(message: Message) -> None:
            nonlocal status, trace
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
                if traced:
                    trace = trace_fields()
            await send(message)

        started = perf_counter()
        bound = REQUEST_ID.set(request_id)
        method, path = scope["method"], scope["path"]
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # Starlette has usually answered already (the app's 500 handler); the exception is
            # logged here, once, with the request id, and goes no further.
            error_logger.exception(f"unhandled error on {method} {path}")
            if not status:
                await internal_error_response()(scope, receive, send_with_id)
        finally:
            access_logger.info(
                f"{method} {path} {status}",
                method=method,
                path=path,
                status=status,
                duration_ms=round((perf_counter() - started) * 1000, 2),
                **trace,
            )
            REQUEST_ID.reset(bound)
