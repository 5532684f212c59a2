"""Secrets hygiene: the whole credential flow with canary secrets, and no canary anywhere visible.

Canaries stand for the master key, a user's Bybit secret and an API token. Every log line (at
DEBUG), every response body and header, every exception text and the reprs of the objects that
hold them are searched for each canary in the forms it could leak in.
"""

import base64
import json
import logging
import uuid
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import delete, select

from api_service import create_app, serve_app
from api_service.tokens import hash_token
from bybit_client import AsyncBybitClient, BybitError
from bybit_client.testing import FakeBybit
from core_config import Settings, log_formatter
from db_core import Database, async_session_factory
from db_user import (
    USER_DB,
    BybitCredential,
    CredentialContext,
    User,
    Vault,
    add_api_token,
    add_primary_key,
    create_user,
    load_master_keys,
    rotate_credentials,
)

MASTER_KEY = b"CANARY-MASTER-KEY-0123456789-ABC"  # exactly 32 bytes
BYBIT_SECRET = "CanaryBybitSecret9f8e7d6c5b4a"
WRONG_SECRET = "CanaryWrongSecret1a2b3c4d5e6f"
TOKEN = "bbt_CanaryToken_5e6f7a8b9c0d1e2f3a4b5c6d7e8f901"  # the shape of tokens before checksums
API_KEY = "HYGIENEKEY0001"


def leak_forms() -> dict[str, list[str]]:
    """Each canary and the encodings it might leak in."""
    return {
        "master key": [
            MASTER_KEY.decode(),
            MASTER_KEY.hex(),
            base64.urlsafe_b64encode(MASTER_KEY).decode().rstrip("="),
            base64.b64encode(MASTER_KEY).decode().rstrip("="),
        ],
        "bybit secret": [BYBIT_SECRET, WRONG_SECRET],
        "token": [TOKEN, TOKEN.removeprefix("bbt_")],
    }


def assert_no_canary(texts: list[str]) -> None:
    for name, forms in leak_forms().items():
        for form in forms:
            for text in texts:
                assert form not in text, f"the {name} leaked: ...{text[max(0, text.find(form) - 80) :][:200]}"


@pytest.fixture
def canary_key_file(tmp_path: Path) -> Path:
    path = tmp_path / "master.key"
    encoded = base64.urlsafe_b64encode(MASTER_KEY).decode().rstrip("=")
    path.write_text(json.dumps({"primary": "canary", "keys": {"canary": encoded}}))
    path.chmod(0o600)
    return path


async def test_whole_flow_leaks_no_secret(
    test_settings: Settings,
    fake_bybit: FakeBybit,
    canary_key_file: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake_bybit.network = test_settings.bybit_network
    settings = test_settings.model_copy(
        update={"render_master_key_path": canary_key_file, "bybit_api_url": fake_bybit.base_url}
    )
    fake_bybit.add_key(API_KEY, BYBIT_SECRET, balances={"USDT": "10"})
    seen: list[str] = []
    caplog.set_level(logging.DEBUG)

    # Create a user and store the hash of the canary token, as api-admin does.
    database = Database(USER_DB, settings, application_name="hygiene")
    async with database.session() as session:
        user = await create_user(session, f"hygiene-{uuid.uuid4().hex[:8]}@example.com")
        await add_api_token(session, user_id=user.id, name="canary", token_hash=hash_token(TOKEN))
    auth = {"Authorization": f"Bearer {TOKEN}"}

    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=serve_app(app))
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as api:
            responses = [
                await api.put(
                    "/v1/me/bybit-credentials",
                    json={"api_key": API_KEY, "api_secret": WRONG_SECRET},
                    headers=auth,
                ),
                await api.put(
                    "/v1/me/bybit-credentials",
                    json={"api_key": API_KEY, "api_secret": BYBIT_SECRET, "label": "canary"},
                    headers=auth,
                ),
                await api.get("/v1/me/bybit-credentials", headers=auth),
                await api.get("/v1/me/wallet-balance", headers=auth),
                await api.put("/v1/me/bybit-credentials", json={"api_key": API_KEY}, headers=auth),
                await api.get("/v1/meta"),
                await api.get("/health/ready"),
            ]
            resources = app.state.resources
            seen += [
                repr(resources),
                repr(resources.vault),
                repr(resources.settings),
                str(resources.settings),
            ]
    assert [r.status_code for r in responses[:-1]] == [422, 200, 200, 200, 422, 200]
    # Readiness is here for what it writes, not for its verdict: the run's user database may also
    # hold other tests' credentials, sealed under keys this canary file lacks (then a 503).
    assert responses[-1].status_code in (200, 503)
    seen += [r.text for r in responses] + [str(r.headers) for r in responses]

    # Rotate to a new primary key; the canary key still decrypts until rotation is done.
    add_primary_key(canary_key_file)
    vault = Vault(load_master_keys(canary_key_file, strict_permissions=True))
    sessions = async_session_factory(database.async_engine())
    report = await rotate_credentials(sessions, vault, batch_size=1)
    assert report.rotated >= 1
    async with database.session() as session:
        row = (await session.scalars(select(BybitCredential).where(BybitCredential.user_id == user.id))).one()
        secret = vault.decrypt(row.secret_ciphertext, row.key_id, CredentialContext.of(row))
        assert secret.get_secret_value() == BYBIT_SECRET  # the flow worked end to end
        seen += [
            repr(row),
            repr(secret),
            str(secret),
            repr(vault),
            repr(load_master_keys(canary_key_file, strict_permissions=True)),
        ]
    # The run's user database is shared: a credential under keys no other test knows must not stay.
    async with database.session() as session:
        await session.execute(delete(User).where(User.id == user.id))
    await database.dispose()

    # Errors raised with the canaries at hand.
    async with AsyncBybitClient(fake_bybit.base_url, API_KEY, WRONG_SECRET) as client:
        seen.append(repr(client))
        with pytest.raises(BybitError) as caught:
            await client.wallet_balance()
        seen += [str(caught.value), repr(caught.value)]

    # The lines as production writes them, in both formats.
    seen += [
        log_formatter(json_lines=json_lines).format(record)
        for record in caplog.records
        for json_lines in (True, False)
    ]
    seen += [record.getMessage() for record in caplog.records]
    seen += [json.dumps(record.__dict__, default=str) for record in caplog.records]
    seen.append(caplog.text)
    assert len(caplog.records) > 10  # the flow really logged (requests, SQL, Bybit calls)
    assert_no_canary(seen)


async def test_canary_check_would_catch_a_leak() -> None:
    with pytest.raises(AssertionError, match="the bybit secret leaked"):
        assert_no_canary([f"oops {BYBIT_SECRET}"])
    with pytest.raises(AssertionError, match="the master key leaked"):
        assert_no_canary([MASTER_KEY.hex()])
    assert_no_canary([repr(SecretStr(BYBIT_SECRET))])
