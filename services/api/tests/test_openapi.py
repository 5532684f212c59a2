"""The OpenAPI document describes every route with its response and error models, and each
operation's access and rate limit as the route declares them."""

import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from api_service.route_policy import RATE_LIMIT_GROUP, RateLimitGroup


async def test_every_operation_documents_success_and_errors(app: FastAPI, client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    operations = {
        (method.upper(), path): operation
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    }
    # Every route of the app's own is documented, but those it leaves out on purpose.
    assert operations.keys() == {
        (method, context.path)
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute) and context.include_in_schema
        for method in context.methods or ()
    }
    assert ("PUT", "/v1/me/bybit-credentials") in operations
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
    # Each operation names its rate-limit group (test_access: its access); its 429 states that
    # group's limits, and only the health checks answer none.
    for key, operation in operations.items():
        group = RateLimitGroup(operation[RATE_LIMIT_GROUP])
        assert ("429" in operation["responses"]) is (group is not RateLimitGroup.UNLIMITED), key
    limits = operations[("PUT", "/v1/me/bybit-credentials")]["responses"]["429"]["description"]
    assert "per client address and 100000 per 60 s per token" in limits
