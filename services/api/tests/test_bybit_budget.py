"""The api's share of the Bybit call budget: a ban answered 403 pauses every process, and while it
lasts a request that would call Bybit is a 503 with ``Retry-After`` in the error shape, sent nowhere."""

import uuid
from collections.abc import Iterator

import pytest
from redis import Redis
from test_support.tokens import Tokens

from bybit_client.redis_budget import RedisBudget
from bybit_client.testing import FakeBybit, Fault
from core_config import Settings

from .conftest import ClientFor

QUERY_API = "/v5/user/query-api"
API_KEY = "BUDGETKEY0123456"
SECRET = "fake-bybit-secret-budget-0123"


@pytest.fixture
def budget_settings(api_settings: Settings) -> Iterator[Settings]:
    """The api's settings with a call budget of this test's own (its ban must pause no other test)."""
    settings = api_settings.model_copy(
        update={"bybit_budget_prefix": f"test-budget-{uuid.uuid4().hex[:12]}", "bybit_ban_pause": 120.0}
    )
    yield settings
    redis = Redis.from_url(settings.redis_url.get_secret_value())
    keys = list(redis.scan_iter(match=f"{{{settings.bybit_budget_prefix}}}:*"))
    if keys:
        redis.delete(*keys)
    redis.close()


async def test_a_ban_pauses_every_process_and_requests_get_a_503_with_retry_after(
    client_for: ClientFor, budget_settings: Settings, fake_bybit: FakeBybit, tokens: Tokens
) -> None:
    auth = tokens.user_auth
    fake_bybit.add_key(API_KEY, SECRET)
    fake_bybit.fail_next(1, Fault.HTTP_403, path=QUERY_API)
    body = {"api_key": API_KEY, "api_secret": SECRET}
    async with client_for(budget_settings) as client:
        banned = await client.put("/v1/me/bybit-credentials", json=body, headers=auth)
        assert banned.status_code == 503, banned.text
        assert banned.json()["error"]["code"] == "bybit_rate_limited"
        paused = await client.put("/v1/me/bybit-credentials", json=body, headers=auth)
    assert paused.status_code == 503, paused.text
    error = paused.json()["error"]
    assert error["code"] == "bybit_budget_spent"
    assert "Bybit banned the address" in error["message"]
    assert error["request_id"]
    assert 100 < int(paused.headers["retry-after"]) <= 120
    assert fake_bybit.count(QUERY_API) == 1  # the second request sent nothing to Bybit
    # Another process holding the budget (a worker) is paused too.
    redis = Redis.from_url(budget_settings.redis_url.get_secret_value())
    try:
        hold = RedisBudget(redis, prefix=budget_settings.bybit_budget_prefix).admit("/v5/market/kline")
    finally:
        redis.close()
    assert hold is not None
    assert hold.seconds > 100
