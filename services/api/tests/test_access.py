"""Who may call what: every route declares its access and its rate-limit group on itself; every
protected route refuses anonymous callers (401) and tokens of another scope (403, naming the scope
needed); expired tokens, disabled users and look-alike tokens are refused."""

import inspect
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy.ext.asyncio import AsyncSession
from test_support.tokens import Tokens

from api_service import create_app
from api_service.dependencies import CurrentUser
from api_service.route_policy import RateLimitGroup, declared_group, declared_public, public, required_scopes
from api_service.tokens import TOKEN_PREFIX, hash_token, is_well_formed, new_token
from core_config import Settings
from core_telemetry import Telemetry, TelemetryPlan
from db_user import add_api_token, create_user, disable_user

REPOSITORY = Path(__file__).resolve().parents[3]
# A valid value for each path parameter, so that only the token decides the answer.
# The largest id: no token has it, so the allowed call revokes nothing (a 404).
PATH_VALUES = {
    "credential_id": "1",
    "order_id": "1",
    "task_id": "00000000-0000-4000-8000-000000000000",
    "token_id": str(2**63 - 1),
}
BODIES = {
    ("POST", "/v1/market/sync"): {"kind": "instruments"},
    ("PUT", "/v1/me/bybit-credentials"): {"api_key": "TESTKEY0123", "api_secret": "secret-0123"},
}
ACCESS = (
    "take a CurrentUser or Operator parameter (api_service/dependencies.py) if it needs a token, or "
    "give its decorator (or add_api_route) openapi_extra=public(RateLimitGroup.ADDRESS) if anyone "
    "may call it (api_service/route_policy.py)"
)
GROUP = (
    "give its decorator (or add_api_route) openapi_extra=limited(RateLimitGroup.ACCOUNT) (or another "
    "group) beside its token parameter, or openapi_extra=public(RateLimitGroup.ADDRESS) if anyone "
    "may call it (api_service/route_policy.py)"
)


def where(route: APIRoute, method: str, path: str) -> str:
    """``GET /v1/meta (services/api/src/api_service/routers/meta.py:14, meta)``: where it is declared."""
    source = Path(inspect.getsourcefile(route.endpoint) or "?").resolve()
    line = inspect.getsourcelines(route.endpoint)[1]
    shown = source.relative_to(REPOSITORY) if source.is_relative_to(REPOSITORY) else source
    return f"{method} {path} ({shown}:{line}, {route.endpoint.__name__})"


def declaration_problems(app: FastAPI) -> list[str]:
    """What each API route fails to declare: its access (a token scope, or public) and its group."""
    document = app.openapi()
    problems = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute) or context.path is None:
            continue  # FastAPI's OpenAPI document and the docs' files: public, counted per address
        for method in sorted(context.methods or ()):
            operation: dict[str, Any] | None = document["paths"].get(context.path, {}).get(method.lower())
            named = where(route, method, context.path)
            if declared_group(route) is None:
                problems.append(f"{named} declares no rate-limit group: {GROUP}")
            scopes = required_scopes(operation) if operation is not None else []
            if declared_public(route):
                if scopes:
                    problems.append(f"{named} is declared public but requires a token of scope {scopes}")
            elif operation is None:
                problems.append(f"{named} is left out of the OpenAPI document: declare it public(...)")
            elif not scopes:
                problems.append(f"{named} declares no access: {ACCESS}")
    return problems


class ScrapePageOnly(Telemetry):
    """Telemetry off but for the plan, which asks for the Prometheus scrape page (``/metrics``)."""

    plan = TelemetryPlan(metric_exporters=("prometheus",))


def test_every_route_declares_its_access_and_rate_limit_group(app: FastAPI, api_settings: Settings) -> None:
    with_metrics = create_app(api_settings, ScrapePageOnly())
    assert "/metrics" in {getattr(route, "path", None) for route in with_metrics.routes}
    for checked in (app, with_metrics):
        problems = declaration_problems(checked)
        assert not problems, "\n".join(problems)


def test_a_route_declaring_nothing_is_named_with_where_to_declare_it() -> None:
    app = FastAPI()
    router = APIRouter(prefix="/v1/market")

    @router.get("/symbols")
    async def symbols() -> list[str]:
        return []

    @router.get("/mine", openapi_extra=public(RateLimitGroup.ADDRESS))
    async def mine(user: CurrentUser) -> int:
        return user.id

    app.include_router(router)
    here = f"services/api/tests/test_access.py:{inspect.getsourcelines(symbols)[1]}"
    assert declaration_problems(app) == [
        f"GET /v1/market/symbols ({here}, symbols) declares no rate-limit group: {GROUP}",
        f"GET /v1/market/symbols ({here}, symbols) declares no access: {ACCESS}",
        f"GET /v1/market/mine (services/api/tests/test_access.py:{inspect.getsourcelines(mine)[1]}, mine) "
        "is declared public but requires a token of scope ['user']",
    ]


def protected_operations(document: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Each operation that requires a token, with the scope its security requirement names."""
    protected = []
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            if operation["security"] == []:
                continue  # declared public
            [scope] = required_scopes(operation)
            assert {"401", "403"} <= operation["responses"].keys(), (method, path)
            assert scope in operation["responses"]["403"]["description"], (method, path)
            protected.append((method.upper(), path, scope))
    return protected


def call(client: httpx.AsyncClient, method: str, path: str, token: str | None) -> httpx.Request:
    url = path.format(**PATH_VALUES)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.build_request(method, url, json=BODIES.get((method, path)), headers=headers)


async def test_every_protected_route_refuses_anonymous_and_wrong_scope_callers(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    operations = protected_operations((await client.get("/openapi.json")).json())
    assert ("POST", "/v1/market/sync", "operator") in operations
    assert ("GET", "/v1/me/bybit-credentials", "user") in operations
    for method, path, scope in operations:
        anonymous = await client.send(call(client, method, path, None))
        assert anonymous.status_code == 401, (method, path)
        assert anonymous.headers["www-authenticate"] == "Bearer"
        wrong = tokens.operator if scope == "user" else tokens.user
        refused = await client.send(call(client, method, path, wrong))
        assert refused.status_code == 403, (method, path, refused.text)
        assert refused.json()["error"]["code"] == "forbidden"
        assert f"needs a token of scope {scope};" in refused.json()["error"]["message"]
        allowed = await client.send(call(client, method, path, tokens.of_scope(scope)))
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
