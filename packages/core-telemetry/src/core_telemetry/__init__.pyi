"""The public names of this package, read by type checkers and by lazy_loader (loaded on first use)."""

from .environment import (
    TelemetryPlan,
    plan_from_environment,
)
from .errors import (
    secret_values,
    start_error_reports,
)
from .logs import (
    add_trace_fields,
    install_log_record_fields,
    trace_fields,
)
from .setup import (
    start_observability,
    start_telemetry,
)
from .telemetry import (
    PoolStats,
    Telemetry,
    telemetry,
)

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
