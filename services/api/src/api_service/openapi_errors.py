"""The errors every route may answer before its own code runs, added to the OpenAPI document.

The rate limiter (429, with the limits of the group the route declares in words), the body limits
(413, and 408 for a body that does not arrive in time) and the body decoding (400, a body that is
not UTF-8) answer ahead of any route, so their statuses are documented here, once, for each
operation they apply to; a route documents only its own errors. A route's 403 is described with
the token scope its ``security`` requirement names.
"""

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api_service.rate_limits import RateLimitPolicy
from api_service.route_policy import RATE_LIMIT_GROUP, RateLimitGroup, required_scopes
from core_config import Settings

# The routes' own error answers put ErrorResponse in the document's components.
_ERROR_REF = {"$ref": "#/components/schemas/ErrorResponse"}
_HEADER = {"schema": {"type": "string"}}


def _error(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": _ERROR_REF}},
    }
    if headers:
        response["headers"] = headers
    return response


def document_edge_errors(app: FastAPI, policy: RateLimitPolicy, settings: Settings) -> None:
    """Make ``app.openapi()`` list the 400, 408, 413 and 429 answers of each operation they apply to, and
    name the scope in its 403."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
        for operations in schema["paths"].values():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                group = RateLimitGroup(operation.get(RATE_LIMIT_GROUP, RateLimitGroup.ADDRESS))
                if policy.enabled and group is not RateLimitGroup.UNLIMITED:
                    headers = {"Retry-After": _HEADER, "RateLimit": _HEADER, "RateLimit-Policy": _HEADER}
                    responses.setdefault("429", _error(policy.describe(group), headers))
                scopes = " or ".join(f"`{scope}`" for scope in required_scopes(operation))
                if "403" in responses and scopes:
                    responses["403"]["description"] = f"This operation needs a token of scope {scopes}"
                if "requestBody" in operation:
                    # FastAPI's answer to a body it cannot decode (not UTF-8) before validating it.
                    responses.setdefault("400", _error("The request body could not be decoded"))
                    responses.setdefault(
                        "413", _error(f"The request body is larger than {settings.api_max_body_bytes} bytes")
                    )
                    responses.setdefault(
                        "408",
                        _error(f"The request body did not arrive within {settings.api_body_timeout:g} s"),
                    )
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
