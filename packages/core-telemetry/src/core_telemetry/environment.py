"""Which telemetry this process runs, read from the standard OpenTelemetry environment variables.

Nothing is switched on unless a variable asks for it:
- traces: ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) with
  ``OTEL_TRACES_EXPORTER`` unset or ``otlp``; or ``OTEL_TRACES_EXPORTER=console`` (one JSON span a
  line on standard output, for a laptop);
- metrics: the same with ``OTEL_METRICS_EXPORTER`` (``otlp``, ``console``), plus ``prometheus``:
  a scrape endpoint (the API's ``/metrics``; a port, ``OTEL_EXPORTER_PROMETHEUS_PORT``, elsewhere);
- ``OTEL_SDK_DISABLED=true`` switches everything off.

Only OTLP over HTTP/protobuf is installed; a wrong value stops the process at start with one line
naming the variable. This module imports nothing of OpenTelemetry: when telemetry is off, none of it
is ever loaded.
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from core_config import ConfigError

DEFAULT_PROMETHEUS_HOST = "0.0.0.0"  # noqa: S104 - a scrape port is meant to be reached
DEFAULT_PROMETHEUS_PORT = 9464  # the port OpenTelemetry's specification gives the Prometheus exporter
_EXPORTERS = {"TRACES": ("otlp", "console", "none"), "METRICS": ("otlp", "console", "prometheus", "none")}


@dataclass(frozen=True)
class TelemetryPlan:
    """The exporters of each signal; empty tuples mean the signal is off."""

    trace_exporters: tuple[str, ...] = ()
    metric_exporters: tuple[str, ...] = ()
    prometheus_host: str = DEFAULT_PROMETHEUS_HOST
    prometheus_port: int = DEFAULT_PROMETHEUS_PORT

    @property
    def traces(self) -> bool:
        return bool(self.trace_exporters)

    @property
    def metrics(self) -> bool:
        return bool(self.metric_exporters)

    @property
    def prometheus(self) -> bool:
        return "prometheus" in self.metric_exporters

    @property
    def enabled(self) -> bool:
        return self.traces or self.metrics


def _endpoint(env: Mapping[str, str], signal: str) -> str | None:
    for variable in (f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        value = env.get(variable, "").strip()
        if value:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ConfigError([(variable, "not an http:// or https:// URL of an OTLP/HTTP receiver")])
            return value
    return None


def _exporters(env: Mapping[str, str], signal: str) -> tuple[str, ...]:
    variable = f"OTEL_{signal}_EXPORTER"
    names = [name.strip().lower() for name in env.get(variable, "otlp").split(",") if name.strip()]
    for name in names:
        if name not in _EXPORTERS[signal]:
            raise ConfigError([(variable, f"{name!r} is not one of {', '.join(_EXPORTERS[signal])}")])
    chosen = [name for name in names if name != "none"]
    if "otlp" in chosen and _endpoint(env, signal) is None:
        chosen.remove("otlp")  # OTLP without an endpoint: nothing is sent anywhere
    return tuple(chosen)


def _port(env: Mapping[str, str]) -> int:
    text = env.get("OTEL_EXPORTER_PROMETHEUS_PORT", "").strip()
    if not text:
        return DEFAULT_PROMETHEUS_PORT
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ConfigError([("OTEL_EXPORTER_PROMETHEUS_PORT", "not a port number (1-65535)")])
    return int(text)


def plan_from_environment(env: Mapping[str, str] | None = None) -> TelemetryPlan:
    """What the OTEL_* variables ask for; ``ConfigError`` naming a variable with a wrong value."""
    env = os.environ if env is None else env
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return TelemetryPlan()
    protocol_variables = ("OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
    for variable in (*protocol_variables, "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL"):
        if env.get(variable, "http/protobuf").strip() != "http/protobuf":
            raise ConfigError([(variable, "only http/protobuf is supported (the OTLP/HTTP exporter)")])
    return TelemetryPlan(
        trace_exporters=_exporters(env, "TRACES"),
        metric_exporters=_exporters(env, "METRICS"),
        prometheus_host=env.get("OTEL_EXPORTER_PROMETHEUS_HOST", "").strip() or DEFAULT_PROMETHEUS_HOST,
        prometheus_port=_port(env),
    )
