"""Headers on every answer about one user's own data (``/v1/me/*``), errors included.

``Cache-Control: no-store``: no shared or browser cache keeps a user's keys, balances or tokens.
``X-Content-Type-Options: nosniff``: a browser never reads such an answer as anything but what
its ``Content-Type`` says.
"""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_HEADERS = [(b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff")]


class PrivateResponseMiddleware:
    def __init__(self, app: ASGIApp, *, prefix: str) -> None:
        self.app = app
        self.prefix = prefix.rstrip("/") + "/"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return

        async def send_private(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", ()) if k.lower() != b"cache-control"]
                message["headers"] = [*kept, *_HEADERS]
            await send(message)

        await self.app(scope, receive, send_private)
