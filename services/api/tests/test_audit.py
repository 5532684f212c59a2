"""The audit trail, read as the lines an operator searches: refused authentications (status,
client, token id when known, never the token), credential writes and deletions, each decryption
of a user's secret, operator requests and a user's own token revocations."""

import json
import logging
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from test_support.tokens import Tokens

from api_service.tokens import hash_token, new_token
from bybit_client.testing import FakeBybit
from core_config import log_formatter
from db_user import TokenScope, add_api_token, revoke_api_token

from .conftest import SignedIn, sign_in
from .test_credentials import API_KEY, SECRET, put_body

_RENDER = log_formatter(json_lines=True)


@pytest.fixture
def audit_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """The audit lines logged during the test, as the JSON objects production writes (read lazily)."""
    caplog.set_level(logging.INFO, logger="api.audit")

    class Lines(list[dict[str, Any]]):
        def read(self) -> "Lines":
            self[:] = [
                json.loads(_RENDER.format(record)) for record in caplog.records if record.name == "api.audit"
            ]
            return self

    return Lines()


def of(lines: Any, action: str) -> list[dict[str, Any]]:
    return [line for line in lines.read() if line["action"] == action]


async def test_refused_authentications_are_on_record(
    signed_in: SignedIn, user_session: AsyncSession, audit_lines: Any
) -> None:
    client = signed_in.client
    path = "/v1/me/bybit-credentials"
    operator_token = new_token()
    operator = await add_api_token(
        user_session,
        user_id=signed_in.user_id,
        name="ops",
        token_hash=hash_token(operator_token),
        scope=TokenScope.OPERATOR,
    )
    assert (await client.get(path)).status_code == 401
    assert (await client.get(path, headers={"Authorization": "Bearer bbt_not-a-token"})).status_code == 401
    assert (await client.get(path, headers={"Authorization": f"Bearer {operator_token}"})).status_code == 403
    await revoke_api_token(user_session, signed_in.token_id)
    assert (await client.get(path, headers=signed_in.auth)).status_code == 401

    refused = of(audit_lines, "auth.refused")
    assert [(line["status"], line["reason"], line["token_id"]) for line in refused] == [
        (401, "no bearer token", None),
        (401, "malformed token", None),
        (403, "token of scope operator", operator.id),
        (401, "unknown, expired or revoked token", signed_in.token_id),
    ]
    for line in refused:
        assert line["client"] == "127.0.0.1"
        assert (line["method"], line["path"]) == ("GET", path)
        assert line["logger"] == "api.audit"
        assert line["request_id"]
    text = json.dumps(refused)
    for token in (signed_in.token, operator_token):
        assert token not in text
        assert token.removeprefix("bbt_") not in text
        assert hash_token(token) not in text


async def test_credential_writes_deletions_and_decryptions_are_on_record(
    signed_in: SignedIn, fake_bybit: FakeBybit, audit_lines: Any
) -> None:
    client, auth = signed_in.client, signed_in.auth
    fake_bybit.add_key(API_KEY, SECRET, balances={"USDT": "1"})
    stored = await client.put("/v1/me/bybit-credentials", json=put_body(), headers=auth)
    credential_id = stored.json()["id"]
    assert (await client.get("/v1/me/wallet-balance", headers=auth)).status_code == 200
    assert (await client.delete(f"/v1/me/bybit-credentials/{credential_id}", headers=auth)).status_code == 204

    who = {"user_id": signed_in.user_id, "credential_id": credential_id, "client": "127.0.0.1"}
    [written] = of(audit_lines, "credential.stored")
    assert written.items() >= {**who, "network": stored.json()["network"]}.items()
    [decrypted] = of(audit_lines, "secret.decrypted")
    assert decrypted.items() >= {**who, "purpose": "wallet balance"}.items()
    [deleted] = of(audit_lines, "credential.deleted")
    assert deleted.items() >= who.items()
    text = json.dumps(audit_lines.read())
    assert SECRET not in text
    assert API_KEY not in text


async def test_operator_requests_are_on_record(
    client: httpx.AsyncClient, tokens: Tokens, audit_lines: Any
) -> None:
    assert (await client.get("/health/ready/detail", headers=tokens.operator_auth)).status_code in (200, 503)
    [line] = of(audit_lines, "operator.request")
    assert line["user_id"] == tokens.user_id
    assert (line["method"], line["path"]) == ("GET", "/health/ready/detail")
    assert isinstance(line["token_id"], int)
    assert tokens.operator not in json.dumps(line)


async def test_a_user_revoking_their_token_is_on_record(
    signed_in: SignedIn, user_session: AsyncSession, audit_lines: Any
) -> None:
    other = await sign_in(signed_in.client, user_session)
    path = f"/v1/me/tokens/{other.token_id}"
    assert (await signed_in.client.delete(path, headers=other.auth)).status_code == 204
    [line] = of(audit_lines, "token.revoked")
    assert line.items() >= {"user_id": other.user_id, "token_id": other.token_id, "by": "its user"}.items()
