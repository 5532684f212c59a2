"""A call that gets no answer says why and where: the host that did not resolve, refused or timed
out, never a bare library code. Both clients, the same words."""

import pytest

from bybit_client import AsyncBybitClient, BybitClient, BybitTransientError, RetryPolicy

ONCE = RetryPolicy(max_attempts=1)


def _failure_of_sync(base_url: str) -> str:
    with (
        BybitClient(base_url, retry=ONCE, timeout=2.0, connect_timeout=1.0) as client,
        pytest.raises(BybitTransientError) as failed,
    ):
        client.server_time()
    return str(failed.value)


async def _failure_of_async(base_url: str) -> str:
    async with AsyncBybitClient(base_url, retry=ONCE, timeout=2.0, connect_timeout=1.0) as client:
        with pytest.raises(BybitTransientError) as failed:
            await client.server_time()
    return str(failed.value)


async def test_a_host_that_does_not_resolve_is_named() -> None:
    base_url = "http://no-such-host.invalid:8810"  # .invalid never resolves (RFC 6761)
    for said in (_failure_of_sync(base_url), await _failure_of_async(base_url)):
        assert "GET no-such-host.invalid:8810/v5/market/time: the host name did not resolve (DNS)" in said
        assert "curl error" not in said


async def test_a_refused_connection_names_its_host_and_port(closed_port: int) -> None:
    base_url = f"http://127.0.0.1:{closed_port}"
    for said in (_failure_of_sync(base_url), await _failure_of_async(base_url)):
        assert f"GET 127.0.0.1:{closed_port}/v5/market/time: could not connect" in said


async def test_a_server_that_never_answers_is_a_named_timeout(silent_port: int) -> None:
    base_url = f"http://127.0.0.1:{silent_port}"
    for said in (_failure_of_sync(base_url), await _failure_of_async(base_url)):
        assert f"GET 127.0.0.1:{silent_port}/v5/market/time: timed out" in said
