"""``start_telemetry``: the one call each process (api, worker, beat, stream) makes at start."""

from core_config import add_log_processor, get_logger
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
