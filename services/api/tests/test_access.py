"""Who may call what: every protected route refuses anonymous callers (401) and tokens of the wrong
scope (403); expired tokens, disabled users and look-alike tokens are refused."""

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession
from test_support.tokens import Tokens

from api_service.tokens import TOKEN_PREFIX, hash_token, is_well_formed, new_token
from db_user import TokenScope, add_api_token, create_user, disable_user

# The routes anyone may call (with the health checks); every other operation must declare a token.
PUBLIC = {
    ("GET", "/v1/meta"),
    ("GET", "/v1/market/instruments"),
    ("GET", "/v1/market/instruments/{category}/{symbol}"),
    ("GET", "/v1/market/klines"),
}
# A valid value for each path parameter, so that only the token decides the answer.
PATH_VALUES = {"credential_id": "1", "task_id": "00000000-0000-4000-8000-000000000000"}
BODIES = {
    ("POST", "/v1/market/sync"): {"kind": "instruments"},
    ("PUT", "/v1/me/bybit-credentials"): {"api_key": "TESTKEY0123", "api_secret": "secret-0123"},
}


def scope_of(path: str) -> TokenScope:
    return TokenScope.USER if path.startswith("/v1/me/") else TokenScope.OPERATOR


async def protected_operations(client: httpx.AsyncClient) -> list[tuple[str, str]]:
    document = (await client.get("/openapi.json")).json()
    protected = []
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            key = (method.upper(), path)
            if key in PUBLIC or path.startswith("/health/"):
                assert "security" not in operation, key
                continue
            assert operation.get("security") == [{"HTTPBearer": []}], f"{key} declares no token"
            assert {"401", "403"} <= operation["responses"].keys(), key
            protected.append(key)
    return protected


def call(client: httpx.AsyncClient, method: str, path: str, token: str | None) -> httpx.Request:
    url = path.format(**PATH_VALUES)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.build_request(method, url, json=BODIES.get((method, path)), headers=headers)


async def test_every_protected_route_refuses_anonymous_and_wrong_scope_callers(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    operations = await protected_operations(client)
    assert ("POST", "/v1/market/sync") in operations
    assert ("GET", "/v1/me/bybit-credentials") in operations
    for method, path in operations:
        anonymous = await client.send(call(client, method, path, None))
        assert anonymous.status_code == 401, (method, path)
        assert anonymous.headers["www-authenticate"] == "Bearer"
        wrong = tokens.operator if scope_of(path) is TokenScope.USER else tokens.user
        refused = await client.send(call(client, method, path, wrong))
        assert refused.status_code == 403, (method, path, refused.text)
        assert refused.json()["error"]["code"] == "forbidden"
        right = tokens.user if scope_of(path) is TokenScope.USER else tokens.operator
        allowed = await client.send(call(client, method, path, right))
        assert allowed.status_code not in (401, 403), (method, path, allowed.text)


async def test_expired_tokens_and_disabled_users_are_refused(
    rolled_back_client: httpx.AsyncClient, user_session: AsyncSession
) -> None:
    user = await create_user(user_session, f"expiring-{uuid.uuid4().hex[:8]}@example.com")
    fresh, stale = new_token(), new_token()
    now = datetime.now(UTC)
    for token, expires_at in ((fresh, now + timedelta(hours=1)), (stale, now - timedelta(seconds=1))):
        await add_api_token(
            user_session, user_id=user.id, name="t", token_hash=hash_token(token), expires_at=expires_at
        )

    async def status(token: str) -> int:
        headers = {"Authorization": f"Bearer {token}"}
        return (await rolled_back_client.get("/v1/me/bybit-credentials", headers=headers)).status_code

    assert await status(fresh) == 200
    assert await status(stale) == 401
    await disable_user(user_session, user.id)
    assert await status(fresh) == 401


def test_token_format_carries_a_checksum() -> None:
    token = new_token()
    assert token.startswith(TOKEN_PREFIX)
    assert len(token) == len(TOKEN_PREFIX) + 46
    assert is_well_formed(token)
    flipped = token[:10] + ("A" if token[10] != "A" else "B") + token[11:]
    assert not is_well_formed(flipped)
    assert not is_well_formed(token + "x")
    assert not is_well_formed("bbt_nope")
    # A token of the earlier shape (no checksum) still passes the shape check.
    assert is_well_formed(TOKEN_PREFIX + "A-_" * 14 + "z")
