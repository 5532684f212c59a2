"""One error shape for every 4xx and 5xx; request ids on every response and log line."""

import json
import logging

import httpx
import pytest
from fastapi import FastAPI
from test_support.tokens import Tokens

from api_service import serve_app
from core_config import log_formatter


def assert_error_shape(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    error: dict[str, object] = body["error"]
    assert error["status"] == status
    assert error["code"] == code
    assert isinstance(error["message"], str)
    assert error["request_id"] == response.headers["x-request-id"]
    return error


async def test_unknown_route_is_a_404_in_the_error_shape(client: httpx.AsyncClient) -> None:
    assert_error_shape(await client.get("/v1/nowhere"), 404, "not_found")


async def test_wrong_method_is_a_405_in_the_error_shape(client: httpx.AsyncClient) -> None:
    assert_error_shape(await client.delete("/health/live"), 405, "method_not_allowed")


async def test_validation_error_lists_details_without_echoing_input(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    secret_looking = "sk-should-not-be-echoed"
    body = {"kind": "klines", "symbol": secret_looking}
    response = await client.post("/v1/market/sync", json=body, headers=tokens.operator_auth)
    error = assert_error_shape(response, 422, "validation_error")
    details = error["details"]
    assert isinstance(details, list)
    assert {"location", "message"} <= set(details[0])
    assert secret_looking not in response.text


async def test_malformed_json_is_a_422(client: httpx.AsyncClient, tokens: Tokens) -> None:
    headers = {"content-type": "application/json", **tokens.operator_auth}
    response = await client.post("/v1/market/sync", content=b"{not json", headers=headers)
    assert_error_shape(response, 422, "validation_error")


async def test_forced_500_shows_no_internals(app: FastAPI, caplog: pytest.LogCaptureFixture) -> None:
    async def explode() -> None:
        raise RuntimeError("internal detail: password=hunter2")

    app.add_api_route("/test/explode", explode)
    transport = httpx.ASGITransport(app=serve_app(app), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        with caplog.at_level(logging.ERROR):
            response = await client.get("/test/explode", headers={"X-Request-ID": "boom-1"})
    error = assert_error_shape(response, 500, "internal_error")
    assert error["request_id"] == "boom-1"
    assert "hunter2" not in response.text
    assert "RuntimeError" not in response.text
    logged = [r for r in caplog.records if r.name == "api.errors"]
    assert logged
    assert isinstance(logged[0].msg, dict)
    assert logged[0].msg["request_id"] == "boom-1"


async def test_request_id_is_echoed_or_made(client: httpx.AsyncClient) -> None:
    given = await client.get("/health/live", headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    made = await client.get("/health/live")
    assert len(made.headers["x-request-id"]) == 32
    unsafe = await client.get("/health/live", headers={"X-Request-ID": "bad id\twith spaces"})
    assert unsafe.headers["x-request-id"] != "bad id\twith spaces"


async def test_every_log_line_of_a_request_carries_its_id(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.handler.setFormatter(log_formatter(json_lines=True))  # the lines production writes
    with caplog.at_level(logging.INFO):
        await client.get("/v1/meta", headers={"X-Request-ID": "trace-me"})
    written = [json.loads(line) for line in caplog.text.splitlines()]
    lines = [line for line in written if line["logger"] != "httpx"]  # the test client's own line
    assert lines
    assert [line for line in lines if line.get("request_id") != "trace-me"] == []
    (access,) = [line for line in lines if line["logger"] == "api.access"]
    assert (access["message"], access["method"], access["path"], access["status"]) == (
        "GET /v1/meta 200",
        "GET",
        "/v1/meta",
        200,
    )
    assert access["duration_ms"] >= 0
