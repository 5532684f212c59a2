"""Liveness (no I/O), readiness (every dependency, each under a short timeout) and the live kline
stream's status (written to Redis by ``worker-service stream``; the API serves without it, so it is
not part of readiness).

Readiness is the path Render's health check calls: it answers 503 only when a required check
fails (a database, the master key file), since then the instance cannot serve at all. When only
an optional one fails (Redis: requested syncs and task status; rate limits let requests through)
it answers 200 with status ``degraded``, so one dead dependency of a few routes does not take every
instance out of rotation. Anyone may ask it and is told the status alone; which check failed and
why (master key ids, migration revisions) is for an operator token, at ``/health/ready/detail``.
A round of checks is shared by every caller within a second of it (``readiness``).

Load balancers call these often, so they are added to the app's own router
(``add_health_routes``) instead of an included ``APIRouter``: FastAPI matches an included router's
routes a second time on every request, which costs as much as the liveness answer itself.
"""

from datetime import UTC, datetime

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from redis.exceptions import RedisError

from api_service.dependencies import Operator, ResourcesDep
from api_service.errors import ErrorBody, error_response, error_responses
from api_service.request_id import current_request_id
from api_service.resources import Resources
from api_service.route_policy import RateLimitGroup, limited, public
from api_service.schemas import CheckOut, Live, Ready, ReadyStatus, Status
from worker_contract import StreamStatus, stream_status_key

# The one liveness answer, encoded once (the route still documents it as ``Live``).
_LIVE_BODY = Live().model_dump_json().encode()


class NotReady(Ready):
    """The operator's 503 body: the error shape plus every check's outcome."""

    error: ErrorBody


class NotReadyStatus(ReadyStatus):
    """The anonymous 503 body: the error shape, naming no check."""

    error: ErrorBody


async def live() -> Response:
    # A fresh Response each time: middlewares may add headers to the one they are given.
    return Response(_LIVE_BODY, media_type="application/json")


async def _verdict(resources: Resources) -> tuple[Status, dict[str, CheckOut]]:
    results = await resources.readiness.run()
    optional = resources.readiness.optional
    checks = {
        name: CheckOut(ok=r.ok, required=name not in optional, latency_ms=r.latency_ms, error=r.error)
        for name, r in results.items()
    }
    failed = [name for name, result in results.items() if not result.ok]
    if not failed:
        return "ready", checks
    if all(name in optional for name in failed):
        return "degraded", checks
    return "unavailable", checks


def _not_ready(message: str) -> ErrorBody:
    return ErrorBody(status=503, code="not_ready", message=message, request_id=current_request_id())


async def ready(resources: ResourcesDep) -> ReadyStatus | JSONResponse:
    status, _ = await _verdict(resources)
    if status != "unavailable":
        return ReadyStatus(status=status)
    body = NotReadyStatus(status=status, error=_not_ready("not ready; an operator finds why in the detail"))
    return JSONResponse(body.model_dump(mode="json", exclude_none=True), status_code=503)


async def ready_detail(resources: ResourcesDep, _: Operator) -> Ready | JSONResponse:
    status, checks = await _verdict(resources)
    if status != "unavailable":
        return Ready(status=status, checks=checks)
    failed = [name for name, check in checks.items() if not check.ok]
    body = NotReady(status=status, checks=checks, error=_not_ready(f"not ready: {', '.join(failed)}"))
    return JSONResponse(body.model_dump(mode="json", exclude_none=True), status_code=503)


async def stream_status(resources: ResourcesDep) -> StreamStatus | JSONResponse:
    key = stream_status_key(resources.settings.celery_queue)
    try:
        raw = await resources.redis.get(key)
    except (RedisError, OSError):
        return error_response(
            503, "stream_unknown", "the stream's status cannot be read: Redis is unavailable"
        )
    if raw is None:
        return error_response(503, "stream_down", "no kline stream is running")
    status = StreamStatus.model_validate_json(raw)
    if status.stale(datetime.now(UTC)):
        return error_response(503, "stream_down", "the kline stream stopped reporting")
    return status


def add_health_routes(app: FastAPI) -> None:
    # Liveness and the stream's status: anyone may call them, never limited (no I/O, or one Redis
    # read), so a load balancer keeps its view of the instance.
    app.add_api_route(
        "/health/live",
        live,
        methods=["GET"],
        response_model=Live,
        tags=["health"],
        summary="The process answers",
        openapi_extra=public(RateLimitGroup.UNLIMITED),
    )
    # Readiness: public, counted per address as any route (a health checker asks it far less often
    # than the limit), and answered from a round at most a second old.
    app.add_api_route(
        "/health/ready",
        ready,
        methods=["GET"],
        response_model=ReadyStatus,
        responses={503: {"model": NotReadyStatus, "description": "A required dependency failed"}},
        tags=["health"],
        summary="Every dependency answers: both databases at head, Redis, the master key",
        description="Public: the status only. 200 `ready` when every check passes, 200 `degraded` "
        "when only checks that are not `required` fail (Redis: requested syncs and task status "
        "answer 503 meanwhile and rate limits are not enforced), 503 when a required one fails (a "
        "database unreachable or not at head, the master key file unusable or missing a key that "
        "stored credentials use). Which one, and why: `/health/ready/detail`. The checks run at "
        "most once a second; answers within that second share them.",
        openapi_extra=public(RateLimitGroup.ADDRESS),
    )
    app.add_api_route(
        "/health/ready/detail",
        ready_detail,
        methods=["GET"],
        response_model=Ready,
        responses={
            503: {"model": NotReady, "description": "A required dependency failed; the checks say which"},
            **error_responses(401, 403),
        },
        tags=["health"],
        summary="Readiness with every check's outcome, latency and error",
        description="For operators: as `/health/ready`, with each check's outcome, whether it is "
        "required, its latency and its error (a migration revision, a master key id).",
        openapi_extra=limited(RateLimitGroup.OPERATOR),
    )
    app.add_api_route(
        "/health/stream",
        stream_status,
        methods=["GET"],
        response_model=StreamStatus,
        responses=error_responses(503),
        tags=["health"],
        summary="The live kline stream: connection, reconnects, last push per subscription, write lag",
        description="Public, as the other health routes: it holds no secret and no user data.",
        openapi_extra=public(RateLimitGroup.UNLIMITED),
    )
