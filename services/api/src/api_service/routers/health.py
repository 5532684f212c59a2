"""Liveness (no I/O) and readiness (every dependency, each under a short timeout)."""

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api_service.dependencies import ResourcesDep
from api_service.errors import ErrorBody
from api_service.request_id import current_request_id
from api_service.schemas import CheckOut, Live, Ready

router = APIRouter(tags=["health"])
_LIVE = Live()


class NotReady(Ready):
    """The 503 body: the error shape plus every check's outcome."""

    error: ErrorBody


@router.get("/health/live", summary="The process answers")
async def live() -> Live:
    return _LIVE


@router.get(
    "/health/ready",
    summary="Every dependency answers: both databases at head, Redis, the master key",
    response_model=Ready,
    responses={503: {"model": NotReady, "description": "A dependency failed; the checks say which"}},
)
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
