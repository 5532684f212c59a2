"""One TLS policy for every Bybit connection, against the fake exchange served by a private CA.

Given the private CA (``ca_file``) the sync and async REST clients and the WebSocket stream talk
to the fake (HTTPS, WSS); with the default policy (certifi's bundle) all three refuse it, even in
a process whose system store (``SSL_CERT_FILE``) trusts it.
"""

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from bybit_client import AsyncBybitClient, BybitClient, BybitTransientError, Category
from bybit_client.streams import Backoff, BybitStream, Disconnected, StreamSettings, public_url, ticker_topic
from bybit_client.testing import FakeBybit, fast_retry_policy
from bybit_client.tls import ca_bundle, ssl_context

API_KEY = "tlskey000001"
API_SECRET = "tls-secret-0001"
FAST = StreamSettings(connect_timeout=3.0, reply_timeout=3.0, backoff=Backoff(base=0.02, cap=0.2))
WAIT = 10.0  # an upper bound never reached when all is well
UNTRUSTED = "/v5/market/time: the server's TLS certificate is not trusted"


@pytest.fixture(scope="module")
def private_ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh CA of this test run, written as a PEM file."""
    return tmp_path_factory.mktemp("ca") / "ca.pem"


@pytest.fixture(scope="module")
def tls_bybit(private_ca: Path) -> Iterator[FakeBybit]:
    """The fake exchange on HTTPS, its certificate (for 127.0.0.1) signed by the private CA."""
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(private_ca))
    server_pem = private_ca.parent / "server.pem"
    ca.issue_cert("127.0.0.1", "localhost").private_key_and_cert_chain_pem.write_to_path(str(server_pem))
    with FakeBybit(certfile=str(server_pem), keyfile=str(server_pem)) as server:
        server.add_key(API_KEY, API_SECRET)
        yield server


# Both clients' default policy, in a process whose system store (as OpenSSL reads it from the
# environment at start) is the private CA alone.
DEFAULT_POLICY_PROBE = """
import asyncio, sys
from bybit_client import AsyncBybitClient, BybitClient, BybitTransientError, RetryPolicy
from bybit_client.streams import BybitStream, Disconnected, public_url

once = RetryPolicy(max_attempts=1)

def sync_outcome():
    with BybitClient(sys.argv[1], retry=once) as client:
        try:
            client.server_time()
        except BybitTransientError as exc:
            return str(exc)
    return "accepted"

async def async_outcome():
    async with AsyncBybitClient(sys.argv[1], retry=once) as client:
        try:
            await client.server_time()
        except BybitTransientError as exc:
            return str(exc)
    return "accepted"

async def stream_outcome():
    async with BybitStream(public_url(sys.argv[2], "linear"), ["tickers.BTCUSDT"]) as stream:
        first = await asyncio.wait_for(anext(aiter(stream)), 30)
    return first.reason if isinstance(first, Disconnected) else "accepted"

print(sync_outcome())
print(asyncio.run(async_outcome()))
print(asyncio.run(stream_outcome()))
"""


def test_the_fake_speaks_https(tls_bybit: FakeBybit) -> None:
    assert tls_bybit.base_url.startswith("https://127.0.0.1:")


def test_sync_client_trusts_the_given_ca(tls_bybit: FakeBybit, private_ca: Path) -> None:
    with BybitClient(tls_bybit.base_url, API_KEY, API_SECRET, ca_file=private_ca) as client:
        assert client.server_time().time_nano > 0
        assert client.instruments_page(Category.SPOT).items  # signed, kept-alive second request
    assert tls_bybit.count("/v5/market/time") >= 1


async def test_async_client_trusts_the_given_ca(tls_bybit: FakeBybit, private_ca: Path) -> None:
    async with AsyncBybitClient(tls_bybit.base_url, API_KEY, API_SECRET, ca_file=str(private_ca)) as client:
        assert (await client.server_time()).time_nano > 0
        assert (await client.api_key_info()).api_key == API_KEY  # a signed call


def test_sync_client_refuses_it_by_default(tls_bybit: FakeBybit) -> None:
    client = BybitClient(tls_bybit.base_url, retry=fast_retry_policy(max_attempts=1))
    with client, pytest.raises(BybitTransientError) as refused:
        client.server_time()
    assert UNTRUSTED in str(refused.value)


async def test_async_client_refuses_it_by_default(tls_bybit: FakeBybit) -> None:
    async with AsyncBybitClient(tls_bybit.base_url, retry=fast_retry_policy(max_attempts=1)) as client:
        with pytest.raises(BybitTransientError) as refused:
            await client.server_time()
    assert UNTRUSTED in str(refused.value)


def test_the_system_store_is_not_consulted(tls_bybit: FakeBybit, private_ca: Path) -> None:
    system_store = {"SSL_CERT_FILE": str(private_ca), "SSL_CERT_DIR": str(private_ca.parent)}
    probe = subprocess.run(
        [sys.executable, "-c", DEFAULT_POLICY_PROBE, tls_bybit.base_url, tls_bybit.ws_url],
        env={**os.environ, **system_store},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    sync_outcome, async_outcome, stream_outcome = probe.stdout.splitlines()
    assert UNTRUSTED in sync_outcome
    assert UNTRUSTED in async_outcome
    assert stream_outcome.startswith("ClientConnectorCertificateError")


async def test_stream_trusts_the_given_ca(tls_bybit: FakeBybit, private_ca: Path) -> None:
    assert tls_bybit.ws_url.startswith("wss://")
    url = public_url(tls_bybit.ws_url, Category.LINEAR)
    async with BybitStream(url, [ticker_topic("BTCUSDT")], settings=FAST, ca_file=private_ca) as stream:
        await asyncio.wait_for(stream.wait_ready(), WAIT)
        assert stream.status().connected


async def test_stream_refuses_it_by_default(tls_bybit: FakeBybit) -> None:
    url = public_url(tls_bybit.ws_url, Category.LINEAR)
    async with BybitStream(url, [ticker_topic("BTCUSDT")], settings=FAST) as stream:
        first = await asyncio.wait_for(anext(aiter(stream)), WAIT)
        assert not stream.status().connected
    assert isinstance(first, Disconnected)
    assert first.reason.startswith("ClientConnectorCertificateError")


def test_both_transports_read_one_bundle(private_ca: Path) -> None:
    import certifi  # noqa: PLC0415 - the default the policy names

    assert ca_bundle() == certifi.where()
    assert ca_bundle(private_ca) == str(private_ca)
    assert ssl_context() is ssl_context(None)  # built once per bundle: clients made per request stay cheap
