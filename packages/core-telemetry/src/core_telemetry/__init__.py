"""core-telemetry: OpenTelemetry traces and metrics, a Prometheus scrape endpoint and Sentry error
reports, set up from the standard environment variables (``OTEL_*``, ``SENTRY_DSN``).

Each process calls ``start_telemetry(service)`` once at start; ``telemetry()`` is what it started
(a no-op until then, and for good when nothing is asked for). Nothing of OpenTelemetry, Prometheus
or Sentry is imported unless asked for: importing this package costs nothing.
"""

from typing import TYPE_CHECKING, Any

from core_telemetry.environment import TelemetryPlan, plan_from_environment
from core_telemetry.logs import add_trace_fields, install_log_record_fields, trace_fields
from core_telemetry.setup import start_observability, start_telemetry
from core_telemetry.telemetry import PoolStats, Telemetry, telemetry

if TYPE_CHECKING:
    from core_telemetry.errors import secret_values, start_error_reports

__all__ = [
    "PoolStats",
    "Telemetry",
    "TelemetryPlan",
    "add_trace_fields",
    "install_log_record_fields",
    "plan_from_environment",
    "secret_values",
    "start_error_reports",
    "start_observability",
    "start_telemetry",
    "telemetry",
    "trace_fields",
]


def __getattr__(name: str) -> Any:
    if name in ("secret_values", "start_error_reports"):
        from core_telemetry import errors  # noqa: PLC0415 - imports Sentry's SDK only when used

        return getattr(errors, name)
    raise AttributeError(f"module 'core_telemetry' has no attribute {name!r}")
