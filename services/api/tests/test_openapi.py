"""The OpenAPI document describes every route with its response and error models."""

import httpx


async def test_every_operation_documents_success_and_errors(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    assert (await client.get("/docs")).status_code == 200
    operations = {
        (method.upper(), path): operation
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    }
    assert {
        ("GET", "/health/live"),
        ("GET", "/health/ready"),
        ("GET", "/v1/meta"),
        ("GET", "/v1/market/instruments"),
        ("GET", "/v1/market/instruments/{category}/{symbol}"),
        ("GET", "/v1/market/klines"),
        ("POST", "/v1/market/sync"),
        ("GET", "/v1/tasks/{task_id}"),
        ("PUT", "/v1/me/bybit-credentials"),
        ("GET", "/v1/me/bybit-credentials"),
        ("DELETE", "/v1/me/bybit-credentials/{credential_id}"),
        ("GET", "/v1/me/wallet-balance"),
    } <= operations.keys()
    for key, operation in operations.items():
        if operation.get("parameters") or operation.get("requestBody"):
            invalid = operation["responses"]["422"]["content"]["application/json"]["schema"]
            assert invalid["$ref"].endswith("/ErrorResponse"), key
        success = [code for code in operation["responses"] if code.startswith("2")]
        assert success, key
        if success[0] != "204":
            schema = operation["responses"][success[0]]["content"]["application/json"]["schema"]
            assert schema.get("$ref") or schema.get("anyOf") or schema.get("type"), key
    assert "ErrorResponse" in document["components"]["schemas"]
    # Every route that reads a database (or Redis, or Bybit) documents the 503 it answers when that
    # dependency does not.
    for (_, path), operation in operations.items():
        if path.startswith(("/v1/market/", "/v1/tasks/", "/v1/me/")):
            assert "503" in operation["responses"], path
