"""``FakeBybit``: the fake exchange on real TCP ports, in a background thread: REST served by uvicorn,
the WebSocket streams by aiohttp, both on one event loop and from one ``FakeExchange``."""

import asyncio
import logging
import random
import socket
import ssl
import threading
import time
from types import TracebackType
from typing import Any, Self

from bybit_client.enums import Network
from bybit_client.testing.app import FakeBybitApp, QuietCuts
from bybit_client.testing.exchange import FakeExchange
from bybit_client.testing.streams import FakeStreams

START_TIMEOUT_SECONDS = 10.0


def bind_socket(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    return sock


async def serve(
    server: Any,
    rest_socket: socket.socket,
    streams: FakeStreams,
    ws_socket: socket.socket,
    ws_tls: ssl.SSLContext | None = None,
) -> None:
    """Serve REST (uvicorn) and the streams (aiohttp) on the running loop until uvicorn exits."""
    from aiohttp import web  # noqa: PLC0415 - aiohttp's server part, needed only by the fake

    runner = web.AppRunner(streams.web_app(), handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    await web.SockSite(runner, ws_socket, ssl_context=ws_tls).start()
    markets = asyncio.create_task(keep_markets_moving(streams.exchange))
    try:
        await server.serve(sockets=[rest_socket])
    finally:
        markets.cancel()
        await runner.cleanup()


async def keep_markets_moving(exchange: FakeExchange) -> None:
    """While ``exchange.market_tick_seconds`` is set (the simulated network of ``make run``), every
    period each traded market's price takes a random step of up to ``walk_ticks`` ticks and the
    resting orders it reaches fill; tests leave it off and move prices themselves."""
    rng = random.Random(exchange.seed)  # noqa: S311 - market noise, not secrets
    while True:
        period = exchange.market_tick_seconds
        await asyncio.sleep(period or 0.5)
        if period:
            exchange.engine.walk(rng, exchange.walk_ticks)


def make_server(app: FakeBybitApp, certfile: str | None = None, keyfile: str | None = None) -> Any:
    """A uvicorn server for ``app``, speaking HTTPS when given a certificate (PEM) and its key."""
    import uvicorn  # noqa: PLC0415 - the `testing` extra, needed only when a server starts

    config = uvicorn.Config(
        app,
        ssl_certfile=certfile,
        ssl_keyfile=keyfile,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=1,
        backlog=1024,
    )
    # An answer the fake cuts on purpose (Fault.RESET) is not an error of the server.
    logging.getLogger("uvicorn.error").addFilter(QuietCuts())
    return uvicorn.Server(config)


class FakeBybit(FakeExchange):
    """A fake Bybit V5 server: ``start()`` it, point a client at ``base_url``, steer it as a FakeExchange.

    Plain HTTP and WebSocket, or HTTPS and WSS with ``certfile`` (the server's PEM certificate
    chain) and ``keyfile``.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        network: Network = Network.MAINNET,
        *,
        certfile: str | None = None,
        keyfile: str | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(network=network, seed=seed)
        self._socket = bind_socket(host, port)
        self.host, self.port = self._socket.getsockname()[:2]
        self.scheme = "https" if certfile else "http"
        self._ws_tls: ssl.SSLContext | None = None
        if certfile:
            self._ws_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self._ws_tls.load_cert_chain(certfile, keyfile)
        self._ws_socket = bind_socket(host, 0)
        self.ws_port = self._ws_socket.getsockname()[1]
        self.app = FakeBybitApp(self)
        self.streams = FakeStreams(self)
        self._server = make_server(self.app, certfile, keyfile)
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        """The WebSocket base: append ``/v5/public/{category}`` or ``/v5/private``."""
        return f"{'wss' if self._ws_tls else 'ws'}://{self.host}:{self.ws_port}"

    def reset(self) -> None:
        """Back to a fresh exchange; the streams close their connections and forget their state."""
        super().reset()
        streams: FakeStreams | None = getattr(self, "streams", None)
        if streams is not None and streams.loop is not None:
            streams.reset().result(timeout=5)

    def _run(self) -> None:
        # The event loop uvicorn itself would choose (uvloop when installed): on the default loop a
        # keep-alive client waits on every response.
        with asyncio.Runner(loop_factory=self._server.config.get_loop_factory()) as runner:
            runner.run(serve(self._server, self._socket, self.streams, self._ws_socket, self._ws_tls))

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._run, name="fake-bybit", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self._server.started or self.streams.loop is None:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the fake Bybit server did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._socket.close()
        self._ws_socket.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return (
            f"FakeBybit(base_url={self.base_url!r}, ws_url={self.ws_url!r}, network={self.network!r},"
            f" keys={len(self.keys)})"
        )
