"""Bybit credentials: bearer tokens, the key checked with (fake) Bybit, stored encrypted, masked."""

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from test_support.canary import CANARY_SECRET

from api_service.tokens import new_token
from bybit_client.testing import FakeBybit
from core_config import Settings
from db_user import BybitCredential, CredentialContext, Vault, revoke_api_token

from .conftest import SignedIn, sign_in

# The suite's canary: stored, signed with and decrypted here, never in a log line.
SECRET = CANARY_SECRET
API_KEY = "TESTKEY0123456789"


def put_body(api_key: str = API_KEY, secret: str = SECRET, **extra: str) -> dict[str, str]:
    return {"api_key": api_key, "api_secret": secret, "label": "main", **extra}


async def test_missing_unknown_and_revoked_tokens_are_401(
    signed_in: SignedIn, user_session: AsyncSession
) -> None:
    client = signed_in.client
    missing = await client.get("/v1/me/bybit-credentials")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert missing.json()["error"]["code"] == "unauthorized"
    unknown = await client.get("/v1/me/bybit-credentials", headers={"Authorization": "Bearer bbt_nope"})
    assert unknown.status_code == 401
    assert (await client.get("/v1/me/bybit-credentials", headers=signed_in.auth)).status_code == 200
    await revoke_api_token(user_session, signed_in.token_id)
    revoked = await client.get("/v1/me/bybit-credentials", headers=signed_in.auth)
    assert revoked.status_code == 401


async def test_valid_key_is_checked_and_stored_encrypted(
    signed_in: SignedIn, fake_bybit: FakeBybit, user_session: AsyncSession, api_settings: Settings
) -> None:
    fake_bybit.add_key(
        API_KEY,
        SECRET,
        read_only=True,
        permissions={"Spot": ["SpotTrade"], "Wallet": []},
        ips=["203.0.113.7", "198.51.100.0/24"],
        expired_at="2031-05-15T03:13:24Z",
    )
    response = await signed_in.client.put("/v1/me/bybit-credentials", json=put_body(), headers=signed_in.auth)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["api_key"] == "TEST…6789"
    assert body["network"] == api_settings.bybit_network.value
    assert body["read_only"] is True
    assert body["permissions"] == {"Spot": ["SpotTrade"], "Wallet": []}
    # Stored (it reads balances), but flagged: a read-only key places no order.
    assert (body["fit_for_trading"], body["unfit_reason"]) == (False, body["unfit_reason"])
    assert "read-only" in body["unfit_reason"]
    # Its owner sees where Bybit accepts it from and until when.
    assert body["ips"] == ["203.0.113.7", "198.51.100.0/24"]
    assert body["expires_at"] == "2031-05-15T03:13:24Z"
    assert SECRET not in response.text
    assert fake_bybit.count("/v5/user/query-api") == 1

    query = select(BybitCredential).where(BybitCredential.user_id == signed_in.user_id)
    row = (await user_session.scalars(query)).one()
    assert SECRET.encode() not in row.secret_ciphertext
    vault = Vault.from_settings(api_settings)
    assert (
        vault.decrypt(row.secret_ciphertext, row.key_id, CredentialContext.of(row)).get_secret_value()
        == SECRET
    )

    listed = await signed_in.client.get("/v1/me/bybit-credentials", headers=signed_in.auth)
    assert [item["api_key"] for item in listed.json()["items"]] == ["TEST…6789"]
    assert SECRET not in listed.text


@pytest.mark.parametrize(
    ("register", "body", "code", "ret_code"),
    [
        (False, put_body(), "bybit_key_invalid", 10003),
        (True, put_body(secret="not-the-right-secret"), "bybit_secret_mismatch", 10004),
    ],
)
async def test_rejected_keys_get_their_own_4xx(
    signed_in: SignedIn, fake_bybit: FakeBybit, register: bool, body: dict[str, str], code: str, ret_code: int
) -> None:
    if register:
        fake_bybit.add_key(API_KEY, SECRET)
    response = await signed_in.client.put("/v1/me/bybit-credentials", json=body, headers=signed_in.auth)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == code
    assert f"retCode {ret_code}" in error["message"]
    assert body["api_secret"] not in response.text


async def test_key_of_another_network_is_refused_with_that_hint(
    signed_in: SignedIn, fake_bybit: FakeBybit, api_settings: Settings
) -> None:
    other = "mainnet" if api_settings.bybit_network.value != "mainnet" else "testnet"
    fake_bybit.add_key(API_KEY, SECRET, network=other)
    response = await signed_in.client.put("/v1/me/bybit-credentials", json=put_body(), headers=signed_in.auth)
    assert response.status_code == 422
    assert f"is it a {api_settings.bybit_network.value} key?" in response.json()["error"]["message"]


async def test_bybit_outage_is_a_503(signed_in: SignedIn, fake_bybit: FakeBybit) -> None:
    fake_bybit.add_key(API_KEY, SECRET)
    fake_bybit.fail_next(20, "http_5xx", path="/v5/user/query-api")
    response = await signed_in.client.put("/v1/me/bybit-credentials", json=put_body(), headers=signed_in.auth)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "bybit_unavailable"


async def test_wallet_balance_uses_the_stored_key(signed_in: SignedIn, fake_bybit: FakeBybit) -> None:
    none_yet = await signed_in.client.get("/v1/me/wallet-balance", headers=signed_in.auth)
    assert none_yet.status_code == 404
    fake_bybit.add_key(API_KEY, SECRET, balances={"USDT": "1234.5678", "BTC": "0.5"})
    await signed_in.client.put("/v1/me/bybit-credentials", json=put_body(), headers=signed_in.auth)
    response = await signed_in.client.get("/v1/me/wallet-balance", headers=signed_in.auth)
    assert response.status_code == 200, response.text
    coins = {coin["coin"]: coin["wallet_balance"] for coin in response.json()["coins"]}
    assert coins == {"USDT": "1234.5678", "BTC": "0.5"}
    signed = fake_bybit.sent("/v5/account/wallet-balance")
    assert [request.api_key for request in signed] == [API_KEY]


async def test_delete_only_own_credentials(
    signed_in: SignedIn, fake_bybit: FakeBybit, user_session: AsyncSession
) -> None:
    fake_bybit.add_key(API_KEY, SECRET)
    stored = await signed_in.client.put("/v1/me/bybit-credentials", json=put_body(), headers=signed_in.auth)
    credential_id = stored.json()["id"]
    intruder = await sign_in(signed_in.client, user_session)
    path = f"/v1/me/bybit-credentials/{credential_id}"
    assert (await intruder.client.delete(path, headers=intruder.auth)).status_code == 404
    assert (await signed_in.client.delete(path, headers=signed_in.auth)).status_code == 204
    assert (await signed_in.client.delete(path, headers=signed_in.auth)).status_code == 404
    listed = await signed_in.client.get("/v1/me/bybit-credentials", headers=signed_in.auth)
    assert listed.json()["items"] == []


async def test_bad_credential_bodies_are_422_without_echo(signed_in: SignedIn) -> None:
    for body in (
        {"api_key": "short", "api_secret": SECRET},
        {"api_key": API_KEY},
        {"api_key": API_KEY, "api_secret": SECRET, "network": "moon"},
    ):
        response = await signed_in.client.put("/v1/me/bybit-credentials", json=body, headers=signed_in.auth)
        assert response.status_code == 422, body
        assert SECRET not in response.text


@pytest.mark.timeout(30)  # a hang, not a slow answer, is what this guards against
async def test_a_dead_user_database_is_a_503(
    api_settings: Settings,
    client_for: Callable[[Settings], AbstractAsyncContextManager[httpx.AsyncClient]],
    closed_port: int,
) -> None:
    dead = SecretStr(f"postgresql+psycopg://postgres:secret-password@127.0.0.1:{closed_port}/gone")
    settings = api_settings.model_copy(update={"database_url_user": dead, "db_pool_timeout": 0.5})
    async with client_for(settings) as client:
        auth = {"Authorization": f"Bearer {new_token()}"}  # well formed, so it is looked up
        response = await client.get("/v1/me/bybit-credentials", headers=auth)
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "database_unavailable"
    assert "secret-password" not in response.text


@pytest.mark.parametrize("permission", ["Withdraw", "AccountTransfer", "SubMemberTransfer"])
async def test_a_key_that_moves_funds_is_refused_naming_the_permission(
    signed_in: SignedIn, fake_bybit: FakeBybit, user_session: AsyncSession, permission: str
) -> None:
    trading = {"ContractTrade": ["Order", "Position"], "Spot": ["SpotTrade"]}
    fake_bybit.add_key(API_KEY, SECRET, permissions={**trading, "Wallet": [permission]})
    response = await signed_in.client.put("/v1/me/bybit-credentials", json=put_body(), headers=signed_in.auth)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "key_moves_funds"
    assert f"Wallet.{permission}" in error["message"]
    assert SECRET not in response.text
    # Nothing stored.
    query = select(BybitCredential).where(BybitCredential.user_id == signed_in.user_id)
    assert (await user_session.scalars(query)).all() == []
    listed = await signed_in.client.get("/v1/me/bybit-credentials", headers=signed_in.auth)
    assert listed.json()["items"] == []


async def test_a_trading_key_is_fit_and_shows_its_binding(signed_in: SignedIn, fake_bybit: FakeBybit) -> None:
    fake_bybit.add_key(API_KEY, SECRET)  # the fake's default: trade permissions, no Wallet, any IP
    response = await signed_in.client.put("/v1/me/bybit-credentials", json=put_body(), headers=signed_in.auth)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["fit_for_trading"], body["unfit_reason"]) == (True, None)
    assert (body["ips"], body["expires_at"]) == (["*"], None)


async def test_stored_keys_that_are_unfit_are_flagged_in_the_list(
    signed_in: SignedIn, user_session: AsyncSession, api_settings: Settings
) -> None:
    vault = Vault.from_settings(api_settings)
    past = datetime.now(UTC) - timedelta(days=1)
    rows = {
        # Stored before keys that move funds were refused: kept, but never used for orders.
        "WITHDRAWKEY01": ({"ContractTrade": ["Order"], "Wallet": ["Withdraw"]}, None, ["10.1.2.3"]),
        "EXPIREDKEY001": ({"ContractTrade": ["Order"]}, past, ["*"]),
        "TRADERKEY0001": ({"ContractTrade": ["Order"], "Wallet": []}, None, ["*"]),
    }
    for api_key, (permissions, expires_at, ips) in rows.items():
        context = CredentialContext(signed_in.user_id, api_settings.bybit_network.value, api_key)
        sealed = vault.encrypt(SecretStr(SECRET), context)
        user_session.add(
            BybitCredential(
                user_id=signed_in.user_id,
                network=context.network,
                api_key=api_key,
                secret_ciphertext=sealed.ciphertext,
                key_id=sealed.key_id,
                read_only=False,
                permissions=permissions,
                expires_at=expires_at,
                ips=ips,
            )
        )
    await user_session.flush()
    listed = await signed_in.client.get("/v1/me/bybit-credentials", headers=signed_in.auth)
    assert listed.status_code == 200, listed.text
    shown = {item["api_key"]: item for item in listed.json()["items"]}
    withdraw, expired, trader = shown["WITH…EY01"], shown["EXPI…Y001"], shown["TRAD…0001"]
    assert withdraw["fit_for_trading"] is False
    assert "Wallet.Withdraw" in withdraw["unfit_reason"]
    assert withdraw["ips"] == ["10.1.2.3"]
    assert expired["fit_for_trading"] is False
    assert "expired" in expired["unfit_reason"]
    assert expired["expires_at"] is not None
    assert (trader["fit_for_trading"], trader["unfit_reason"]) == (True, None)
