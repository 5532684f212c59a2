"""Enqueueing syncs and reading task state; a dead Redis is a quick 503."""

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import httpx
import pytest
from pydantic import SecretStr

from core_config import Settings

from .conftest import Tokens

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
    assert status.json() == {"task_id": task_id, "state": "pending", "result": None, "error": None}


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
