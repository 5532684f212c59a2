"""What one caller can make a real ``api-serve`` hold, tried with raw sockets: a huge header is
refused, a body that stops arriving is answered 408 and closed, and past the connection cap new
requests get 503 while the server keeps answering once the crowd leaves."""

import contextlib
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from core_config import Settings

from .conftest import ServedApi, api_environment, served_apis

BODY_TIMEOUT = 1.0
MAX_CONNECTIONS = 6
EIGHT_MB = 8 * 1024 * 1024
ANSWER_WITHIN = 30.0  # seconds a socket waits for an answer: far past the bounds, short of forever


@pytest.fixture(scope="module")
def api(api_settings: Settings) -> Iterator[ServedApi]:
    def environment(port: int) -> dict[str, str]:
        return api_environment(
            api_settings,
            port,
            API_BODY_TIMEOUT=str(BODY_TIMEOUT),
            API_MAX_CONNECTIONS=str(MAX_CONNECTIONS),
            API_MAX_HEADER_BYTES="16384",
        )

    with served_apis(1, environment) as started:
        yield started[0]


def connect(api: ServedApi) -> socket.socket:
    host, port = api.base_url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=ANSWER_WITHIN)


def read_answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (or the socket's timeout)."""
    received = b""
    with contextlib.suppress(OSError):
        while chunk := sock.recv(65536):
            received += chunk
    return received


def test_an_8_mb_header_is_refused(api: ServedApi) -> None:
    head = b"GET /health/live HTTP/1.1\r\nHost: api.test\r\nX-Padding: "
    sent = 0

    def send_header(sock: socket.socket) -> None:
        nonlocal sent
        try:
            sock.sendall(head)
            for _ in range(EIGHT_MB // 65536):
                sock.sendall(b"a" * 65536)
                sent += 65536
            sock.sendall(b"\r\n\r\n")
        except OSError:
            pass  # the server answered and closed the connection

    with connect(api) as sock, ThreadPoolExecutor(max_workers=1) as pool:
        sending = pool.submit(send_header, sock)
        answer = read_answer(sock)
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sending.result()
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert b"connection: close" in answer.lower()


def test_a_stalled_body_is_answered_408_and_closed(api: ServedApi) -> None:
    # 1 byte of the 16,000 declared, then nothing: the server answers and closes, the caller waits.
    host = api.base_url.removeprefix("http://")
    head = (
        f"PUT /v1/me/bybit-credentials HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        "Content-Length: 16000\r\n\r\n{"
    ).encode()
    with connect(api) as sock:
        sock.sendall(head)
        started = time.monotonic()
        answer = read_answer(sock)
        waited = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert b'"code":"request_timeout"' in answer
    assert b"connection: close" in answer.lower()
    # The connection was closed by the server, not by the socket's own timeout.
    assert waited < ANSWER_WITHIN


def status_of(api: ServedApi) -> int:
    return httpx.get(f"{api.base_url}/health/live", timeout=ANSWER_WITHIN).status_code


def test_past_the_connection_cap_requests_get_503(api: ServedApi) -> None:
    # Connections that send nothing at all: each one counts against the cap.
    idle = [connect(api) for _ in range(MAX_CONNECTIONS)]
    try:
        deadline = time.monotonic() + ANSWER_WITHIN
        status = status_of(api)
        while status != 503 and time.monotonic() < deadline:  # until the server has taken them all
            time.sleep(0.05)
            status = status_of(api)
        assert status == 503
    finally:
        for sock in idle:
            sock.close()
    # Once they are gone, the server answers again: it held, it did not collapse.
    deadline = time.monotonic() + ANSWER_WITHIN
    status = status_of(api)
    while status != 200 and time.monotonic() < deadline:
        time.sleep(0.05)
        status = status_of(api)
    assert status == 200
