"""Shared fixtures: a key known to the fake server and clients with millisecond retry delays."""

from collections.abc import AsyncIterator, Iterator

import pytest

from bybit_client import AsyncBybitClient, BybitClient
from bybit_client.testing import FakeBybit, fast_retry_policy

API_KEY = "testkey00001"
API_SECRET = "testsecret-do-not-leak-9f3a"


@pytest.fixture
def bybit(fake_bybit: FakeBybit) -> FakeBybit:
    fake_bybit.add_key(API_KEY, API_SECRET)
    return fake_bybit


@pytest.fixture
def client(bybit: FakeBybit) -> Iterator[BybitClient]:
    with BybitClient(
        bybit.base_url, API_KEY, API_SECRET, retry=fast_retry_policy(), timeout=2.0
    ) as sync_client:
        yield sync_client


@pytest.fixture
async def async_client(bybit: FakeBybit) -> AsyncIterator[AsyncBybitClient]:
    async with AsyncBybitClient(
        bybit.base_url, API_KEY, API_SECRET, retry=fast_retry_policy(), timeout=2.0
    ) as client:
        yield client
