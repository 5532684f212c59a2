"""Liveness (no I/O) and readiness (every dependency, each under a short timeout).

Load balancers call these often, so they are added to the app's own router
(``add_health_routes``) instead of an included ``APIRouter``: FastAPI matches an included router's
routes a second time on every request, which costs as much as the liveness answer itself.
"""

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response

from api_service.dependencies import ResourcesDep
from api_service.errors import ErrorBody
from api_service.request_id import current_request_id
from api_service.schemas import CheckOut, Live, Ready

# The one liveness answer, encoded once (the route still documents it as ``Live``).
_LIVE_BODY = Live().model_dump_json().encode()


class NotReady(Ready):
    """The 503 body: the error shape plus every check's outcome."""

    error: ErrorBody


async def live() -> Response:
    # A fresh Response each time: middlewares may add headers to the one they are given.
    return Response(_LIVE_BODY, media_type="application/json")


async def ready(resources: ResourcesDep) -> Ready | JSONResponse:
    results = await resources.readiness.run()
    checks = {name: CheckOut(ok=r.ok, latency_ms=r.latency_ms, error=r.error) for name, r in results.items()}
    failed = [name for name, result in results.items() if not result.ok]
    if not failed:
        return Ready(status="ready", checks=checks)
    body = NotReady(
        status="unavailable",
        checks=checks,
        error=ErrorBody(
            status=503,
            code="not_ready",
            message=f"not ready: {', '.join(failed)}",
            request_id=current_request_id(),
        ),
    )
    return JSONResponse(body.model_dump(mode="json", exclude_none=True), status_code=503)


def add_health_routes(app: FastAPI) -> None:
    app.add_api_route(
        "/health/live",
        live,
        methods=["GET"],
        response_model=Live,
        tags=["health"],
        summary="The process answers",
    )
    app.add_api_route(
        "/health/ready",
        ready,
        methods=["GET"],
        response_model=Ready,
        responses={503: {"model": NotReady, "description": "A dependency failed; the checks say which"}},
        tags=["health"],
        summary="Every dependency answers: both databases at head, Redis, the master key",
    )
