"""``start_observability`` (telemetry and error reports) and ``start_telemetry``: what each process
(api, worker, beat, stream) calls at start."""

from collections.abc import Iterable

from core_config import Settings, add_log_processor, get_logger
from core_telemetry.environment import plan_from_environment
from core_telemetry.logs import add_trace_fields, install_log_record_fields
from core_telemetry.telemetry import Telemetry, _install, telemetry

logger = get_logger(__name__)


def start_telemetry(service: str) -> Telemetry:
    """Switch on what the OTEL_* variables ask for, for this process, once; return it.

    ``service`` is the ``service.name`` unless ``OTEL_SERVICE_NAME`` says otherwise. With no
    exporter asked for, nothing is imported and the returned telemetry does nothing. Raises
    ``ConfigError`` naming a variable with a wrong value (call it inside ``exit_on_config_error``).
    """
    current = telemetry()
    if current.plan.enabled:
        return current
    plan = plan_from_environment()
    if not plan.enabled:
        return current
    from core_telemetry.active import ActiveTelemetry  # noqa: PLC0415 - the SDK, only when asked for

    active = ActiveTelemetry(plan, service)
    _install(active)
    if plan.traces:
        install_log_record_fields()  # records of the standard library (uvicorn, celery, ...)
        add_log_processor(add_trace_fields)  # our own structlog lines
    logger.info(
        "telemetry on", traces=",".join(plan.trace_exporters), metrics=",".join(plan.metric_exporters)
    )
    return active


def start_observability(
    service: str, settings: Settings, *, release: str | None, secrets: Iterable[str] = ()
) -> Telemetry:
    """``start_telemetry(service)``, and error reports to ``SENTRY_DSN`` when it is set, scrubbed of
    the settings' secrets and of ``secrets`` (the master keys, for a process that holds them)."""
    started = start_telemetry(service)
    if settings.sentry_dsn is not None:
        from core_telemetry.errors import secret_values, start_error_reports  # noqa: PLC0415 - Sentry

        start_error_reports(
            settings.sentry_dsn.get_secret_value(),
            service=service,
            environment=settings.environment.value,
            release=release,
            secrets=[*secret_values(settings), *secrets],
        )
    return started
