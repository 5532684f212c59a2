"""``FakeBybit``: the fake exchange served by uvicorn on a real TCP port, in a background thread."""

import socket
import threading
import time
from types import TracebackType
from typing import Any, Self

from bybit_client.enums import Network
from bybit_client.testing.app import FakeBybitApp
from bybit_client.testing.exchange import FakeExchange

START_TIMEOUT_SECONDS = 10.0


def bind_socket(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    return sock


def make_server(app: FakeBybitApp) -> Any:
    import uvicorn  # noqa: PLC0415 - the `testing` extra, needed only when a server starts

    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=1,
        backlog=1024,
    )
    return uvicorn.Server(config)


class FakeBybit(FakeExchange):
    """A fake Bybit V5 server: ``start()`` it, point a client at ``base_url``, steer it as a FakeExchange."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, network: Network = Network.MAINNET) -> None:
        super().__init__(network=network)
        self._socket = bind_socket(host, port)
        self.host, self.port = self._socket.getsockname()[:2]
        self.app = FakeBybitApp(self)
        self._server = make_server(self.app)
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> Self:
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="fake-bybit", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the fake Bybit server did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._socket.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"FakeBybit(base_url={self.base_url!r}, network={self.network!r}, keys={len(self.keys)})"
