"""The local servers' ports: which to look at, whether something answers there, a free one."""

import os
import socket

LOCAL_HOST = "127.0.0.1"
# Ports of the local servers, overridable so tests (or a second checkout) can use free ones.
POSTGRES_PORT_VARIABLE = "LOCAL_POSTGRES_PORT"
REDIS_PORT_VARIABLE = "LOCAL_REDIS_PORT"
DEFAULT_POSTGRES_PORT = 5432
DEFAULT_REDIS_PORT = 6379


def answers(port: int, host: str = LOCAL_HOST, timeout: float = 0.3) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((LOCAL_HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def port_setting(variable: str, default: int) -> int:
    """The port in environment variable ``variable``, or ``default``."""
    raw = os.environ.get(variable, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ValueError(f"{variable}: not a TCP port number")
    return int(raw)
