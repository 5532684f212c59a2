"""The simulated Bybit exchange of `make run`: the project's fake exchange (``bybit_client.testing``)
as a child process, when ``BYBIT_NETWORK`` is ``simulated`` (the local default).

It listens on the ports of ``BYBIT_API_URL`` and ``BYBIT_STREAM_URL`` (by default 8810 and 8811 on
127.0.0.1), serves instruments, klines on the real clock (a candle closes each minute) and the
streams, and keeps nothing between runs. With ``BYBIT_NETWORK`` set to ``testnet``, ``demo`` or
``mainnet`` nothing is started and the services talk to Bybit.
"""

import sys
import time
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

from bybit_client.enums import Network
from core_config import Settings
from local_stack.errors import StackError
from local_stack.ports import LOCAL_HOST, answers
from local_stack.processes import Child, LogStream, spawn

READY_SECONDS = 20.0
_LOCAL_HOSTS = frozenset({LOCAL_HOST, "localhost"})


def simulated(settings: Settings) -> bool:
    """Whether `make run` serves the exchange itself."""
    return settings.bybit_network is Network.SIMULATED


def _local_port(variable: str, url: str) -> int:
    parts = urlsplit(url)
    if parts.hostname not in _LOCAL_HOSTS or parts.port is None:
        raise StackError(
            f"{variable} must be http(s)://127.0.0.1:<port> or ws://127.0.0.1:<port> when BYBIT_NETWORK is "
            "simulated: the stack serves that exchange on this machine"
        )
    if answers(parts.port):
        raise StackError(
            f"port {parts.port} of {variable} is taken: stop what listens there, or give {variable} "
            "a free port"
        )
    return parts.port


def start_exchange(settings: Settings, env: Mapping[str, str], logs: LogStream) -> Child:
    """Start the simulated exchange on the configured ports and wait until both answer."""
    rest_port = _local_port("BYBIT_API_URL", settings.bybit_api_url)
    stream_port = _local_port("BYBIT_STREAM_URL", settings.bybit_stream_url)
    child = spawn(
        "exchange",
        [
            sys.executable,
            "-m",
            "bybit_client.testing",
            "--host",
            LOCAL_HOST,
            "--port",
            str(rest_port),
            "--ws-port",
            str(stream_port),
            "--network",
            Network.SIMULATED.value,
        ],
        env=env,
    )
    logs.watch(child)
    _wait(child, lambda: answers(rest_port) and answers(stream_port), logs)
    return child


def _wait(child: Child, ready: Callable[[], bool], logs: LogStream) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while not ready():
        logs.pump(0.05)
        if not child.running:
            raise StackError(f"the simulated exchange exited with code {child.process.returncode}")
        if time.monotonic() > deadline:
            raise StackError(f"the simulated exchange did not answer within {READY_SECONDS:g} s")
