"""The errors every route may answer before its own code runs, added to the OpenAPI document.

The rate limiter (429, with the route group's limits in words), the body limit (413) and the body
decoding (400, a body that is not UTF-8) answer ahead of any route, so their statuses are
documented here, once, for each operation they apply to; a route documents only its own errors.
"""

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api_service.rate_limits import RateLimitPolicy

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


def document_edge_errors(app: FastAPI, policy: RateLimitPolicy, max_body_bytes: int) -> None:
    """Make ``app.openapi()`` list the 413 and 429 answers of each operation they apply to."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
        for path, operations in schema["paths"].items():
            for method, operation in operations.items():
                responses = operation.setdefault("responses", {})
                group = policy.group_for(method.upper(), path) if policy.enabled else None
                if group is not None:
                    headers = {"Retry-After": _HEADER, "RateLimit": _HEADER, "RateLimit-Policy": _HEADER}
                    responses.setdefault("429", _error(policy.describe(group), headers))
                if "requestBody" in operation:
                    # FastAPI's answer to a body it cannot decode (not UTF-8) before validating it.
                    responses.setdefault("400", _error("The request body could not be decoded"))
                    responses.setdefault(
                        "413", _error(f"The request body is larger than {max_body_bytes} bytes")
                    )
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
