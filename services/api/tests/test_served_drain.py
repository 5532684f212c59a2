"""A real ``api-serve`` process drains on SIGTERM: a request in flight when the signal arrives still
gets its answer, then the process exits."""

import asyncio
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from test_support.tokens import issue_tokens

from bybit_client.testing import FakeBybit
from core_config import Settings

from .conftest import ServedApi, api_environment, served_apis

API_KEY = "drainkey0123456789"
SECRET = "fake-bybit-secret-drain-0123456789"
EXCHANGE_DELAY_SECONDS = 3.0


@pytest.fixture
def api(api_settings: Settings) -> Iterator[ServedApi]:
    with served_apis(1, lambda port: api_environment(api_settings, port, LOG_LEVEL="INFO")) as started:
        yield started[0]


def test_request_in_flight_at_sigterm_completes_then_the_process_exits(
    api: ServedApi, api_settings: Settings, fake_bybit: FakeBybit
) -> None:
    tokens = asyncio.run(issue_tokens(api_settings))
    fake_bybit.add_key(API_KEY, SECRET, balances={"USDT": "42.5"})
    stored = httpx.put(
        f"{api.base_url}/v1/me/bybit-credentials",
        json={"api_key": API_KEY, "api_secret": SECRET, "label": "drain"},
        headers=tokens.user_auth,
        timeout=30,
    )
    assert stored.status_code in (200, 201), stored.text
    # Every exchange answer now takes seconds: the balance request is still waiting on it when
    # the signal arrives.
    fake_bybit.delay_seconds = EXCHANGE_DELAY_SECONDS
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(
            httpx.get, f"{api.base_url}/v1/me/wallet-balance", headers=tokens.user_auth, timeout=60
        )
        deadline = time.monotonic() + 30
        while fake_bybit.count("/v5/account/wallet-balance") == 0:
            assert not pending.done(), pending.result().text
            assert time.monotonic() < deadline, "the balance request never reached the exchange"
            time.sleep(0.02)
        assert not pending.done()  # still waiting on the exchange when the signal goes out
        api.process.send_signal(signal.SIGTERM)
        response = pending.result(timeout=60)
    assert response.status_code == 200, response.text
    assert response.json()["coins"][0]["coin"] == "USDT"
    output, _ = api.process.communicate(timeout=60)
    assert api.process.returncode in (0, -signal.SIGTERM), output
    assert "Application shutdown complete" in output
    # Once stopped, the port takes no more requests.
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{api.base_url}/health/live", timeout=2)
