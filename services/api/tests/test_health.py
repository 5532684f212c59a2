"""Liveness, and readiness with each dependency up, stopped or unmigrated in turn: a required one
(a database, the master key file) down is a 503, Redis alone down is a 200 "degraded". Anyone is
told the status alone; the checks' outcomes are an operator's (or the log's)."""

import asyncio
import logging
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from local_stack.private import PrivateServer
from pydantic import SecretStr
from redis import Redis
from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from test_support.tokens import Tokens

from api_service.readiness import ReadinessProbe
from core_config import Settings
from db_user import User, Vault, generate_key_file, load_master_keys
from worker_contract import StreamStatus, StreamTopicStatus, stream_status_key

from .conftest import SealCredential

ClientFor = Callable[[Settings], AbstractAsyncContextManager[httpx.AsyncClient]]


async def test_live_is_ok_without_io(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_when_every_dependency_answers(client: httpx.AsyncClient, tokens: Tokens) -> None:
    response = await client.get("/health/ready/detail", headers=tokens.operator_auth)
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"user_database", "general_database", "redis", "master_key"}
    assert all(check["ok"] and check["latency_ms"] >= 0 for check in body["checks"].values())
    required = {name for name, check in body["checks"].items() if check["required"]}
    assert required == {"user_database", "general_database", "master_key"}


async def test_anyone_is_told_the_status_alone(client: httpx.AsyncClient, tokens: Tokens) -> None:
    anonymous = await client.get("/health/ready")
    assert anonymous.status_code == 200
    assert anonymous.json() == {"status": "ready"}
    # The detail is an operator's: no token, or a user's, is refused.
    assert (await client.get("/health/ready/detail")).status_code == 401
    assert (await client.get("/health/ready/detail", headers=tokens.user_auth)).status_code == 403


async def test_readiness_is_counted_like_any_route_and_its_detail_as_an_operators(
    client: httpx.AsyncClient,
) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    ready, detail = paths["/health/ready"]["get"], paths["/health/ready/detail"]["get"]
    assert (ready["security"], ready["x-rate-limit-group"]) == ([], "address")
    assert "429" in ready["responses"]
    assert detail["security"] == [{"HTTPBearer": ["operator"]}]
    assert detail["x-rate-limit-group"] == "operator"
    # Liveness stays uncounted: the load balancer's view of the instance never waits on Redis.
    assert paths["/health/live"]["get"]["x-rate-limit-group"] == "unlimited"


async def _ready_with(
    client_for: ClientFor, settings: Settings, tokens: Tokens
) -> tuple[int, dict[str, object]]:
    """The operator's answer, after checking that the anonymous one agrees and says no more."""
    async with client_for(settings) as client:
        anonymous = await client.get("/health/ready")
        response = await client.get("/health/ready/detail", headers=tokens.operator_auth)
    assert anonymous.status_code == response.status_code
    assert anonymous.json()["status"] == response.json()["status"]
    assert "checks" not in anonymous.json()
    if anonymous.status_code == 503:
        assert anonymous.json()["error"]["message"] == "not ready; an operator finds why in the detail"
    return response.status_code, response.json()


def _failed(body: dict[str, object]) -> dict[str, str]:
    checks = body["checks"]
    assert isinstance(checks, dict)
    return {name: check["error"] for name, check in checks.items() if not check["ok"]}


async def test_dead_redis_alone_is_degraded_not_unavailable(
    api_settings: Settings, client_for: ClientFor, closed_port: int, tokens: Tokens
) -> None:
    # Only syncs and task status need Redis: the instance stays in rotation for everything else.
    dead = api_settings.model_copy(update={"redis_url": SecretStr(f"redis://127.0.0.1:{closed_port}/0")})
    status, body = await _ready_with(client_for, dead, tokens)
    assert status == 200, body
    assert body["status"] == "degraded"
    assert _failed(body).keys() == {"redis"}
    assert "error" not in body


async def test_dead_redis_with_a_dead_database_is_a_503_naming_both(
    api_settings: Settings, client_for: ClientFor, closed_port: int, tokens: Tokens
) -> None:
    dead = api_settings.model_copy(
        update={
            "redis_url": SecretStr(f"redis://127.0.0.1:{closed_port}/0"),
            "database_url_general": SecretStr(f"postgresql+psycopg://postgres@127.0.0.1:{closed_port}/x"),
        }
    )
    status, body = await _ready_with(client_for, dead, tokens)
    assert status == 503
    assert body["status"] == "unavailable"
    assert _failed(body).keys() == {"redis", "general_database"}
    assert body["error"]["code"] == "not_ready"  # type: ignore[index]
    assert "redis" in body["error"]["message"]  # type: ignore[index]


async def test_dead_general_database_is_a_503_naming_it(
    api_settings: Settings, client_for: ClientFor, closed_port: int, tokens: Tokens
) -> None:
    url = f"postgresql+psycopg://postgres@127.0.0.1:{closed_port}/nothing"
    settings = api_settings.model_copy(update={"database_url_general": SecretStr(url)})
    status, body = await _ready_with(client_for, settings, tokens)
    assert status == 503
    assert _failed(body) == {"general_database": "unreachable"}
    assert "127.0.0.1" not in str(body)  # where the database lives is for the logs, not the caller


async def test_dead_user_database_is_a_503_and_the_log_names_it(
    api_settings: Settings, client_for: ClientFor, closed_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    # No operator token can be checked without the user database: the log says which check failed.
    url = f"postgresql+psycopg://postgres@127.0.0.1:{closed_port}/nothing"
    caplog.set_level(logging.WARNING, logger="api_service.readiness")
    async with client_for(api_settings.model_copy(update={"database_url_user": SecretStr(url)})) as client:
        response = await client.get("/health/ready")
    assert response.status_code == 503
    assert "user_database" not in response.text
    failed = [r.msg for r in caplog.records if r.name == "api_service.readiness"]
    assert any(
        isinstance(m, dict) and m.get("check") == "user_database" and m.get("error") == "unreachable"
        for m in failed
    ), failed


async def test_unmigrated_database_is_not_ready(
    api_settings: Settings, client_for: ClientFor, empty_database_url: str, tokens: Tokens
) -> None:
    settings = api_settings.model_copy(update={"database_url_general": SecretStr(empty_database_url)})
    status, body = await _ready_with(client_for, settings, tokens)
    assert status == 503
    assert "not migrated to head" in _failed(body)["general_database"]


@pytest.mark.timeout(30)  # a hang, not a slow answer, is what this guards against
async def test_redis_stopped_while_running_turns_ready_into_degraded(
    api_settings: Settings, client_for: ClientFor, private_redis: PrivateServer, tokens: Tokens
) -> None:
    settings = api_settings.model_copy(update={"redis_url": SecretStr(private_redis.url)})
    async with client_for(settings) as client:
        assert (await client.get("/health/ready")).json()["status"] == "ready"
        private_redis.stop()
        await asyncio.sleep(1.1)  # past the round kept for a second
        response = await client.get("/health/ready/detail", headers=tokens.operator_auth)
        assert response.status_code == 200
        assert response.json()["status"] == "degraded"
        assert _failed(response.json()).keys() == {"redis"}


async def test_a_key_in_use_missing_from_the_key_file_is_a_503_naming_its_id(
    api_settings: Settings,
    client_for: ClientFor,
    tmp_path: Path,
    seal_credential: SealCredential,
    tokens: Tokens,
) -> None:
    # A credential sealed under this run's key, then an api given a key file without that key.
    vault = Vault(load_master_keys(api_settings.render_master_key_path, strict_permissions=False))
    other_file = tmp_path / "master.key"
    generate_key_file(other_file)
    engine = create_engine(api_settings.database_url_user.get_secret_value())
    with Session(engine) as db:
        user = User(email=f"ready-{uuid.uuid4().hex[:8]}@example.com")
        db.add(user)
        db.flush()
        db.add(seal_credential(vault, user.id, "READYKEY", "the-secret"))
        db.commit()
        try:
            assert (await _ready_with(client_for, api_settings, tokens))[0] == 200  # its own file has it
            settings = api_settings.model_copy(update={"render_master_key_path": other_file})
            status, body = await _ready_with(client_for, settings, tokens)
        finally:
            db.delete(user)
            db.commit()
    engine.dispose()
    assert status == 503
    assert _failed(body) == {
        "master_key": f"stored credentials use master keys missing from the key file: {vault.primary_key_id}"
    }
    key_bytes = load_master_keys(api_settings.render_master_key_path, strict_permissions=False).primary
    assert key_bytes.material.hex() not in str(body)
    assert "the-secret" not in str(body)


async def test_concurrent_probes_share_one_round_of_checks() -> None:
    calls = 0

    async def slow_check() -> None:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.2)

    probe = ReadinessProbe({"slow": slow_check}, timeout=1.0, max_age=0)
    results = await asyncio.gather(*(probe.run() for _ in range(20)))
    assert calls == 1
    assert all(r["slow"].ok for r in results)
    await probe.run()
    assert calls == 2  # a later probe starts a new round


async def test_a_finished_round_answers_again_within_its_max_age() -> None:
    calls = 0

    async def check() -> None:
        nonlocal calls
        calls += 1

    probe = ReadinessProbe({"check": check}, timeout=1.0, max_age=60)
    for _ in range(5):
        await probe.run()
    assert calls == 1  # however often readiness is asked, the dependency is asked once per max_age


async def test_a_hanging_check_fails_at_its_timeout() -> None:
    async def hangs() -> None:
        await asyncio.sleep(30)

    result = (await ReadinessProbe({"hangs": hangs}, timeout=0.1).run())["hangs"]
    assert not result.ok
    assert result.error == "no answer within 0.1 s"


async def test_a_check_slow_to_stop_is_not_waited_for_nor_started_twice() -> None:
    # As psycopg's cancel of a query to a server that stopped answering: seconds to confirm.
    calls = 0
    stopping = asyncio.Event()

    async def stubborn_check() -> None:
        nonlocal calls
        calls += 1
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            stopping.set()
            await asyncio.sleep(30)
            raise

    probe = ReadinessProbe({"database": stubborn_check}, timeout=0.2)
    first = await probe.run()
    assert first["database"].error == "no answer within 0.2 s"
    await stopping.wait()  # cancelled, still stopping: the probe answered without waiting for it
    second = await probe.run()
    assert second["database"].error == "no answer within 0.2 s"
    assert calls == 1  # no second check piled up on the first


@pytest.mark.timeout(30)  # a hang, not a slow answer, is what this guards against
async def test_a_database_that_accepts_but_never_answers_is_a_503(
    api_settings: Settings, client_for: ClientFor, silent_port: int, tokens: Tokens
) -> None:
    url = SecretStr(f"postgresql+psycopg://postgres@127.0.0.1:{silent_port}/nothing")
    status, body = await _ready_with(
        client_for, api_settings.model_copy(update={"database_url_general": url}), tokens
    )
    assert status == 503
    assert _failed(body) == {"general_database": "no answer within 1 s"}


async def test_stream_status_is_served_while_fresh_and_a_503_when_missing_or_stale(
    client: httpx.AsyncClient, api_settings: Settings
) -> None:
    key = stream_status_key(api_settings.celery_queue)
    with Redis.from_url(api_settings.redis_url.get_secret_value()) as redis:
        redis.delete(key)
        missing = await client.get("/health/stream")
        assert missing.status_code == 503
        assert missing.json()["error"]["code"] == "stream_down"

        now = datetime.now(UTC)
        status = StreamStatus(
            at=now,
            interval_seconds=5.0,
            connected=True,
            reconnects=2,
            topics={"kline.1.BTCUSDT": StreamTopicStatus(last_message_at=now, messages=7)},
            candles_written=3,
            lag_ms=12.5,
        )
        redis.set(key, status.model_dump_json(), ex=60)
        fresh = await client.get("/health/stream")
        assert fresh.status_code == 200, fresh.json()
        assert StreamStatus.model_validate(fresh.json()) == status

        redis.set(key, status.model_copy(update={"at": now - timedelta(seconds=16)}).model_dump_json(), ex=60)
        stale = await client.get("/health/stream")
        assert stale.status_code == 503
        assert stale.json()["error"]["message"] == "the kline stream stopped reporting"
        redis.delete(key)
