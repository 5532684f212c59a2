"""The libcurl transport of the blocking client and the column-wise kline parser."""

import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from bybit_client import (
    BybitClient,
    BybitError,
    BybitInvalidRequestError,
    BybitTransientError,
    endpoints,
    ms_to_datetime,
)
from bybit_client.core import ClientCore, HttpResponse
from bybit_client.models import Kline, klines_from_rows
from bybit_client.testing import FakeBybit, fast_retry_policy


def test_rows_parse_exactly_in_their_order() -> None:
    rows = [
        ["1735689600000", "1.50", "2", "0.1", "1.000", "12345678901234567890.123456789012", "0"],
        ["1735689600123", "-0", "1E+3", "3", "4", "5", "6"],  # a start off the whole second
    ]
    first, second = klines_from_rows(rows)
    assert first == Kline(
        datetime(2025, 1, 1, tzinfo=UTC),
        Decimal("1.50"),
        Decimal(2),
        Decimal("0.1"),
        Decimal("1.000"),
        Decimal("12345678901234567890.123456789012"),
        Decimal(0),
    )
    assert str(first.open) == "1.50"  # exponent kept, nothing rounded at any length
    assert str(first.volume) == "12345678901234567890.123456789012"
    assert second.start == datetime(2025, 1, 1, 0, 0, 0, 123_000, tzinfo=UTC)
    assert second.start.tzinfo is UTC
    assert klines_from_rows([]) == []


def test_starts_of_overlapping_pages_stay_exact() -> None:
    base = 1_700_000_040_000
    for shift in range(3):  # a window sliding by one minute: each page shares all but one start
        texts = [str(base + (shift + i) * 60_000) for i in range(5)]
        rows = [[text, "1", "1", "1", "1", "1", "1"] for text in texts]
        assert [kline.start for kline in klines_from_rows(rows)] == [ms_to_datetime(t) for t in texts]


@pytest.mark.parametrize(
    "rows",
    [
        [["1735689600000", "1", "2", "3", "4", "5"]],  # a column short
        [["1735689600000", "1", "2", "3", "4", "5", "6"], ["1735689660000", "1"]],  # ragged
        [["1735689600000", "one", "2", "3", "4", "5", "6"]],
        [["yesterday", "1", "2", "3", "4", "5", "6"]],
    ],
)
def test_malformed_rows_are_a_bybit_error(rows: list[list[str]]) -> None:
    call = endpoints.klines("linear", "BTCUSDT", "60")
    body = orjson.dumps({"retCode": 0, "retMsg": "OK", "result": {"list": rows}})
    with pytest.raises(BybitError, match="unexpected result shape"):
        ClientCore("http://127.0.0.1:1", None, None).interpret(call, HttpResponse(200, {}, body))


def test_another_verb_does_not_stick_to_the_connection(client: BybitClient, bybit: FakeBybit) -> None:
    with pytest.raises(BybitInvalidRequestError):
        client.request("DELETE", "/v5/market/time")
    assert client.server_time().time.tzinfo is UTC
    assert [request.method for request in bybit.sent("/v5/market/time")] == ["DELETE", "GET"]


def test_threads_can_share_a_client(client: BybitClient) -> None:
    def fetch(index: int) -> list[datetime]:
        end = datetime(2025, 1, 1 + index % 20, tzinfo=UTC)
        return [kline.start for kline in client.klines("linear", "BTCUSDT", "60", end=end, limit=10).items]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(fetch, range(40)))
    assert all(
        starts[-1] == datetime(2025, 1, 1 + index % 20, tzinfo=UTC) for index, starts in enumerate(results)
    )


@pytest.fixture
def untrusted_tls_server(tmp_path: Path) -> Iterator[str]:
    """An HTTPS server whose self-signed certificate no client trusts."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        try:
            connection, _ = listener.accept()
            with connection, context.wrap_socket(connection, server_side=True):
                pass
        except OSError:  # the client hangs up in the handshake
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{port}"
    listener.close()
    thread.join(timeout=5)


def test_an_untrusted_certificate_is_refused(untrusted_tls_server: str) -> None:
    with (
        BybitClient(untrusted_tls_server, timeout=2.0, retry=fast_retry_policy(max_attempts=1)) as client,
        pytest.raises(BybitTransientError, match="certificate is not trusted"),
    ):
        client.server_time()
