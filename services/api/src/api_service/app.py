"""The app factory: routes, middleware, error shape, and a lifespan that owns every resource."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version
from typing import cast

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import Response
from fastapi.telemetry import TelemetryConfig
from starlette.types import ASGIApp

from api_service.body_limit import BodyLimitMiddleware
from api_service.client_address import ClientAddressMiddleware
from api_service.docs import add_docs_routes
from api_service.errors import install_error_handlers
from api_service.halt_sweep import Sweeper
from api_service.kill_switch import BackgroundSweeps, sweep_at_start
from api_service.middleware import RequestContextMiddleware
from api_service.observability import start_observability
from api_service.openapi_errors import document_edge_errors
from api_service.order_tracker import running_tracker
from api_service.private_responses import PrivateResponseMiddleware
from api_service.rate_limits import RateLimitMiddleware, RateLimitPolicy, RouteGroups
from api_service.required_settings import REQUIRED_SETTINGS
from api_service.resources import open_resources
from api_service.route_policy import RateLimitGroup, public
from api_service.routers import accounts, credentials, health, market, meta, orders, tasks, tokens, trading
from core_config import Settings, configure_logging, exit_on_config_error, get_settings
from core_telemetry import Telemetry

# FastAPI's own OpenTelemetry (HTTP server spans, http.server.request.duration per route template)
# is on only for what ``start_observability`` switched on: with it on and no provider set up, FastAPI
# would still look the global providers up on every request.
NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


def create_app(settings: Settings, telemetry: Telemetry | None = None) -> FastAPI:
    telemetry = telemetry or Telemetry()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Every route is in place by now: the rate limiter's view of their declared groups.
        app.state.route_groups = RouteGroups(app.routes)
        async with open_resources(settings, telemetry) as resources:
            app.state.resources = resources
            databases = (resources.user_db, resources.general_db)
            telemetry.observe_pools(lambda: [stats for db in databases for stats in db.pool_stats()])
            app.state.halt_sweeper = Sweeper(settings, resources.vault, resources.bybit_budget)
            app.state.halt_sweeps = sweeps = BackgroundSweeps()
            # Halts outlive the process: their users' orders are swept again at every start (in the
            # background: the api serves meanwhile, and refuses their orders from the first request).
            sweeps.start(sweep_at_start(resources.user_db, app.state.halt_sweeper))
            try:
                # Orders whose outcome is not known, this run's and those a previous run left behind.
                async with running_tracker(resources):
                    yield
            finally:
                await sweeps.close()

    app = FastAPI(
        telemetry=cast(TelemetryConfig, telemetry.fastapi_config())
        if telemetry.plan.enabled
        else NO_TELEMETRY,
        title="Bybit trading backend API",
        version=version("api-service"),
        lifespan=lifespan,
        docs_url=None,  # served from the api's own files: add_docs_routes
        # API_DOCS: off (by default in production), neither the document nor the page is served.
        openapi_url="/openapi.json" if settings.docs_enabled else None,
        redoc_url=None,
    )
    install_error_handlers(app)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID"],
        )
    # A body too large or too slow is refused before anything reads it, authentication included.
    app.add_middleware(
        BodyLimitMiddleware, max_bytes=settings.api_max_body_bytes, timeout=settings.api_body_timeout
    )
    # Inside the limits: what a refused caller gets needs no such headers.
    app.add_middleware(PrivateResponseMiddleware, prefix=credentials.router.prefix)
    # A caller past a limit costs one Redis round trip and nothing more.
    app.add_middleware(RateLimitMiddleware)
    # Outermost: every layer inside sees the client address the proxies give, counted by hop.
    if settings.trusted_proxies:
        app.add_middleware(
            ClientAddressMiddleware, trusted=settings.trusted_proxies, hops=settings.proxy_hops
        )
    health.add_health_routes(app)
    if settings.docs_enabled:
        add_docs_routes(app)
    routers = (meta, market, tasks, credentials, tokens, orders, accounts, trading)
    for router in (module.router for module in routers):
        app.include_router(router)
    document_edge_errors(app, RateLimitPolicy(settings), settings)
    if telemetry.plan.prometheus:
        _add_metrics_route(app, telemetry)
    app.state.telemetry = telemetry
    return app


def _add_metrics_route(app: FastAPI, telemetry: Telemetry) -> None:
    async def metrics() -> Response:
        body, content_type = telemetry.prometheus_text()
        return Response(body, media_type=content_type)

    # Left out of the OpenAPI document: it is the Prometheus scraper's, not the API's callers'.
    app.add_api_route(
        "/metrics",
        metrics,
        methods=["GET"],
        include_in_schema=False,
        summary="Prometheus scrape page, for a scraper on a private network",
        openapi_extra=public(RateLimitGroup.ADDRESS),
    )


def serve_app(app: FastAPI) -> ASGIApp:
    """The ASGI app as served: the request-context middleware outermost, so even a 500 has an id."""
    telemetry: Telemetry | None = getattr(app.state, "telemetry", None)
    return RequestContextMiddleware(app, traced=bool(telemetry and telemetry.plan.traces))


def app_from_environment() -> ASGIApp:
    """Uvicorn's factory: settings from the environment, logging configured, then the app."""
    with exit_on_config_error():
        settings = get_settings().require(*REQUIRED_SETTINGS)
    configure_logging(settings.log_level, json_lines=settings.json_logs)
    with exit_on_config_error():
        telemetry = start_observability(settings)
    return serve_app(create_app(settings, telemetry))
