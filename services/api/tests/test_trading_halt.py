"""The halt check an order route takes (423 trading_halted), and the operator scope of the kill
switch's routes (403 naming it for any other token)."""

import uuid

import httpx
import pytest
from fastapi import FastAPI
from test_support.tokens import Tokens, issue_tokens

from api_service import create_app
from api_service.halt_sweep import SWEEP_TIMEOUT
from api_service.route_policy import RateLimitGroup, limited
from api_service.trading_halt import TradingAllowed
from bybit_client.testing import FakeBybit, Fault
from core_config import Settings

from .conftest import client_for_app, open_orders, place_elsewhere

SECRET = "fake-bybit-secret-0123456789"


def app_with_an_order_route(settings: Settings) -> FastAPI:
    """The api with a stand-in order route that takes the halt check, as the place route does."""
    app = create_app(settings)

    @app.post("/v1/me/probe-order", openapi_extra=limited(RateLimitGroup.ACCOUNT))
    async def probe_order(_: TradingAllowed) -> dict[str, str]:
        return {"sent": "yes"}

    return app


async def test_a_halted_user_is_refused_and_others_are_not(
    api_settings: Settings, tokens: Tokens, forget_users: list[int]
) -> None:
    other = await issue_tokens(api_settings)
    forget_users.append(other.user_id)
    async with client_for_app(app_with_an_order_route(api_settings)) as client:
        assert (await client.post("/v1/me/probe-order", headers=tokens.user_auth)).status_code == 200
        halted = await client.post(
            "/v1/trading/halts", json={"user_id": tokens.user_id, "reason": "r"}, headers=other.operator_auth
        )
        assert halted.status_code == 201, halted.text
        try:
            refused = await client.post("/v1/me/probe-order", headers=tokens.user_auth)
            assert refused.status_code == 423
            error = refused.json()["error"]
            assert error["code"] == "trading_halted"
            assert "for your account" in error["message"]
            assert error["message"] != "r"  # the operator's reason is not shown
            assert (await client.post("/v1/me/probe-order", headers=other.user_auth)).status_code == 200
        finally:
            lifted = await client.post(
                "/v1/trading/halts/lift", json={"user_id": tokens.user_id}, headers=other.operator_auth
            )
        assert lifted.status_code == 200, lifted.text
        assert (await client.post("/v1/me/probe-order", headers=tokens.user_auth)).status_code == 200


async def test_kill_switch_routes_need_the_operator_scope(client: httpx.AsyncClient, tokens: Tokens) -> None:
    for method, path, body in (
        ("POST", "/v1/trading/halts", {"all": True, "reason": "r"}),
        ("POST", "/v1/trading/halts/lift", {"all": True}),
        ("GET", "/v1/trading/halts", None),
        ("GET", "/v1/audit", None),
    ):
        answer = await client.request(method, path, json=body, headers=tokens.user_auth)
        assert answer.status_code == 403, (path, answer.text)
        assert "scope operator" in answer.json()["error"]["message"]
    halts = await client.get("/v1/trading/halts", headers=tokens.operator_auth)
    assert halts.json()["items"] == []  # the refused halt of everyone never happened


async def test_a_halt_names_exactly_one_target(client: httpx.AsyncClient, tokens: Tokens) -> None:
    for body in ({"reason": "r"}, {"all": True, "user_id": tokens.user_id, "reason": "r"}, {"all": True}):
        answer = await client.post("/v1/trading/halts", json=body, headers=tokens.operator_auth)
        assert answer.status_code == 422, answer.text
    unknown = await client.post(
        "/v1/trading/halts", json={"user_id": 2**62, "reason": "r"}, headers=tokens.operator_auth
    )
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "user_not_found")


@pytest.mark.parametrize(
    ("fault", "detail"),
    [(Fault.HTTP_5XX, "cancel-all"), (Fault.TIMEOUT_BEFORE, "no answer within")],
)
async def test_a_cancel_bybit_does_not_confirm_is_unknown_never_done(
    api_settings: Settings,
    fake_bybit: FakeBybit,
    tokens: Tokens,
    fault: Fault,
    detail: str,
    forget_users: list[int],
) -> None:
    alice = await issue_tokens(api_settings)
    forget_users.append(alice.user_id)
    api_key = f"KEY{uuid.uuid4().hex[:12].upper()}"
    fake_bybit.add_key(api_key, SECRET)
    fake_bybit.slow_seconds = SWEEP_TIMEOUT + 2  # a held answer outlasts the sweep's bound
    async with client_for_app(create_app(api_settings)) as client:
        stored = await client.put(
            "/v1/me/bybit-credentials",
            json={"api_key": api_key, "api_secret": SECRET},
            headers=alice.user_auth,
        )
        assert stored.status_code == 200, stored.text
        place_elsewhere(fake_bybit, api_key, "linear", 2)
        fake_bybit.set_fault_rates({fault: 1.0}, path="/v5/order/cancel-all", api_key=api_key)
        halted = await client.post(
            "/v1/trading/halts", json={"user_id": alice.user_id, "reason": "r"}, headers=tokens.operator_auth
        )
        try:
            assert halted.status_code == 201, halted.text
            (swept,) = halted.json()["swept"]
            assert (swept["outcome"], swept["cancelled"]) == ("unknown", 0)
            assert detail in swept["detail"]
            assert open_orders(fake_bybit, api_key) == 2  # and indeed they are still there
            trail = await client.get(
                "/v1/audit", params={"action": "trading.sweep", "limit": 1}, headers=tokens.operator_auth
            )
            (row,) = trail.json()["items"]
            assert [one["outcome"] for one in row["details"]["credentials"]] == ["unknown"]
        finally:
            fake_bybit.faults.clear()
            await client.post(
                "/v1/trading/halts/lift", json={"user_id": alice.user_id}, headers=tokens.operator_auth
            )
