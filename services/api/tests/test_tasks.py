"""Enqueueing syncs and reading task state; a dead Redis is a quick 503."""

import json
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr
from redis.asyncio import Redis
from test_support.tokens import Tokens

from core_config import Settings

ClientFor = Callable[[Settings], AbstractAsyncContextManager[httpx.AsyncClient]]
KLINES = {
    "kind": "klines",
    "category": "linear",
    "symbol": "BTCUSDT",
    "interval": "60",
    "start": "2026-11-01T00:00:00Z",
    "end": "2026-11-02T00:00:00Z",
}


async def test_enqueued_task_is_known_and_pending_without_a_worker(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    auth = tokens.operator_auth
    response = await client.post(
        "/v1/market/sync", json={"kind": "instruments", "category": "linear"}, headers=auth
    )
    assert response.status_code == 202, response.text
    task_id = response.json()["task_id"]
    status = await client.get(f"/v1/tasks/{task_id}", headers=auth)
    assert status.status_code == 200
    # No worker has opened the sync's record yet.
    assert status.json() == {
        "task_id": task_id,
        "state": "pending",
        "result": None,
        "error": None,
        "sync": None,
    }


async def test_klines_sync_is_accepted(client: httpx.AsyncClient, tokens: Tokens) -> None:
    response = await client.post("/v1/market/sync", json=KLINES, headers=tokens.operator_auth)
    assert response.status_code == 202, response.text


async def test_bad_sync_requests_are_422(client: httpx.AsyncClient, tokens: Tokens) -> None:
    for body in (
        {"kind": "everything"},
        {"kind": "instruments", "category": "futures"},
        {**KLINES, "start": KLINES["end"]},
        {**KLINES, "start": "2026-11-01T00:00:00"},  # no time zone: ambiguous
        {**KLINES, "symbol": "btc usdt"},
    ):
        response = await client.post("/v1/market/sync", json=body, headers=tokens.operator_auth)
        assert response.status_code == 422, body


async def test_unknown_task_is_404(client: httpx.AsyncClient, tokens: Tokens) -> None:
    auth = tokens.operator_auth
    response = await client.get("/v1/tasks/00000000-0000-4000-8000-000000000000", headers=auth)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "task_not_found"
    assert (await client.get("/v1/tasks/not-a-task-id", headers=auth)).status_code == 422


@pytest.mark.timeout(30)  # a hang, not a slow answer, is what this guards against
async def test_dead_redis_gives_503_not_a_hang(
    api_settings: Settings, client_for: ClientFor, closed_port: int, tokens: Tokens
) -> None:
    settings = api_settings.model_copy(update={"redis_url": SecretStr(f"redis://127.0.0.1:{closed_port}/0")})
    async with client_for(settings) as client:
        auth = tokens.operator_auth
        sent = await client.post("/v1/market/sync", json={"kind": "instruments"}, headers=auth)
        status = await client.get("/v1/tasks/00000000-0000-4000-8000-000000000000", headers=auth)
    assert sent.status_code == 503
    assert sent.json()["error"]["code"] == "task_queue_unavailable"
    assert status.status_code == 503


async def test_requested_syncs_are_bounded(
    api_settings: Settings, client_for: ClientFor, tokens: Tokens
) -> None:
    queue = f"test-bounded-{uuid.uuid4().hex[:8]}"
    settings = api_settings.model_copy(update={"celery_queue": queue, "sync_max_pending": 2})
    auth = tokens.operator_auth
    async with client_for(settings) as client:
        future = {**KLINES, "end": (datetime.now(UTC) + timedelta(hours=1)).isoformat()}
        assert (await client.post("/v1/market/sync", json=future, headers=auth)).status_code == 422
        # 1-minute candles over a year: far past the 10,000 candles one sync may cover.
        huge = {**KLINES, "interval": "1", "start": "2025-01-01T00:00:00Z"}
        too_large = await client.post("/v1/market/sync", json=huge, headers=auth)
        assert too_large.status_code == 422
        assert too_large.json()["error"]["code"] == "sync_too_large"

        first = (await client.post("/v1/market/sync", json=KLINES, headers=auth)).json()
        again = (await client.post("/v1/market/sync", json=KLINES, headers=auth)).json()
        assert first["existing"] is False
        assert again == {"task_id": first["task_id"], "existing": True}  # the pending task, not a second
        other = await client.post("/v1/market/sync", json={"kind": "instruments"}, headers=auth)
        assert other.status_code == 202
        full = await client.post("/v1/market/sync", json={**KLINES, "symbol": "ETHUSDT"}, headers=auth)
        assert full.status_code == 429
        assert full.json()["error"]["code"] == "too_many_pending_syncs"
        assert "retry-after" in full.headers

    redis = Redis.from_url(api_settings.redis_url.get_secret_value())
    try:
        messages = [json.loads(raw) for raw in await redis.lrange(queue, 0, -1)]
    finally:
        await redis.aclose()
    assert len(messages) == 2  # the duplicate and the refused one were never sent
    assert all(message["headers"]["expires"] for message in messages)  # dropped when not started in time
