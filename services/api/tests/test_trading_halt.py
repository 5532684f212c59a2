"""The halt check an order route takes (423 trading_halted), and the operator scope of the kill
switch's routes (403 naming it for any other token)."""

import httpx
from fastapi import FastAPI
from test_support.tokens import Tokens, issue_tokens

from api_service import create_app
from api_service.route_policy import RateLimitGroup, limited
from api_service.trading_halt import TradingAllowed
from core_config import Settings

from .conftest import client_for_app


def app_with_an_order_route(settings: Settings) -> FastAPI:
    """The api with a stand-in order route that takes the halt check, as the place route does."""
    app = create_app(settings)

    @app.post("/v1/me/probe-order", openapi_extra=limited(RateLimitGroup.ACCOUNT))
    async def probe_order(_: TradingAllowed) -> dict[str, str]:
        return {"sent": "yes"}

    return app


async def test_a_halted_user_is_refused_and_others_are_not(api_settings: Settings, tokens: Tokens) -> None:
    other = await issue_tokens(api_settings)
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
