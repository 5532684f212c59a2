"""Telemetry switched on: the OpenTelemetry SDK's providers, exporters and this project's instruments.

Imported only by ``start_telemetry`` once the environment asks for telemetry. Metric names follow
OpenTelemetry's semantic conventions where one exists (``http.server.request.duration`` comes from
FastAPI itself, ``db.client.connection.*`` here); the others are named in the same style.
"""

import os
import threading
from collections.abc import Callable, Iterable, Sequence
from time import perf_counter
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.context import Context
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from core_telemetry.environment import TelemetryPlan
from core_telemetry.logs import _enable as enable_log_fields
from core_telemetry.logs import bound_ids
from core_telemetry.telemetry import PoolStats, Telemetry

SCOPE = "core_telemetry"
# Seconds: a task may run for minutes.
_TASK_BUCKETS = (0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)


class _LogContextSpanProcessor(SpanProcessor):
    """Every span started while a request id or task id is bound carries it, under the names the
    log lines use, so a request id from a log line or an error answer finds its trace."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        for name, value in bound_ids().items():
            span.set_attribute(name, value)

    def on_end(self, span: ReadableSpan) -> None:
        pass


def _compact_json(span: ReadableSpan) -> str:
    return str(span.to_json(indent=None)) + os.linesep


def _resource(service: str) -> Resource:
    named = os.environ.get("OTEL_SERVICE_NAME") or "service.name=" in os.environ.get(
        "OTEL_RESOURCE_ATTRIBUTES", ""
    )
    return Resource.create({} if named else {SERVICE_NAME: service})


def _tracer_provider(plan: TelemetryPlan, resource: Resource) -> TracerProvider:
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(_LogContextSpanProcessor())
    if "otlp" in plan.trace_exporters:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: PLC0415

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    if "console" in plan.trace_exporters:
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter  # noqa: PLC0415

        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter(formatter=_compact_json)))
    return provider


def _meter_provider(plan: TelemetryPlan, resource: Resource) -> MeterProvider:
    readers: list[MetricReader] = []
    if "otlp" in plan.metric_exporters:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter  # noqa: PLC0415

        readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))
    if "console" in plan.metric_exporters:
        from opentelemetry.sdk.metrics.export import ConsoleMetricExporter  # noqa: PLC0415

        readers.append(PeriodicExportingMetricReader(ConsoleMetricExporter()))
    if plan.prometheus:
        from opentelemetry.exporter.prometheus import PrometheusMetricReader  # noqa: PLC0415

        readers.append(PrometheusMetricReader())
    return MeterProvider(metric_readers=readers, resource=resource)


def _seconds(
    meter: metrics.Meter, name: str, description: str, buckets: Sequence[float]
) -> metrics.Histogram:
    """A histogram of durations in seconds, with bucket boundaries fitting what it measures."""
    return meter.create_histogram(
        name, unit="s", description=description, explicit_bucket_boundaries_advisory=buckets
    )


_TASK_STATES = {"SUCCESS": "succeeded", "FAILURE": "failed", "RETRY": "retried"}


def _connect_task_metrics(meter: metrics.Meter) -> None:
    """Celery tasks started, succeeded, failed and retried, and their duration, per task name."""
    try:
        from celery import signals  # noqa: PLC0415 - only services that use Celery have it
    except ImportError:
        return
    runs = meter.create_counter(
        "celery.task.runs", unit="{task}", description="Celery task runs by task name and state"
    )
    duration = _seconds(
        meter, "celery.task.duration", "Celery task run time by task name and final state", _TASK_BUCKETS
    )
    started: dict[str, float] = {}

    def on_prerun(task_id: str, task: Any, **_: Any) -> None:
        started[task_id] = perf_counter()
        runs.add(1, {"celery.task.name": task.name, "celery.task.state": "started"})

    def on_postrun(task_id: str, task: Any, state: str | None = None, **_: Any) -> None:
        attributes = {
            "celery.task.name": task.name,
            "celery.task.state": _TASK_STATES.get(state or "", "other"),
        }
        runs.add(1, attributes)
        began = started.pop(task_id, None)
        if began is not None:
            duration.record(perf_counter() - began, attributes)

    signals.task_prerun.connect(on_prerun, weak=False, dispatch_uid="core_telemetry.prerun")
    signals.task_postrun.connect(on_postrun, weak=False, dispatch_uid="core_telemetry.postrun")


class ActiveTelemetry(Telemetry):
    def __init__(self, plan: TelemetryPlan, service: str) -> None:
        self.plan = plan
        self.service = service
        resource = _resource(service)
        self._tracer_provider: TracerProvider | None = None
        self._meter_provider: MeterProvider | None = None
        if plan.traces:
            self._tracer_provider = _tracer_provider(plan, resource)
            trace.set_tracer_provider(self._tracer_provider)
            enable_log_fields()
        if plan.metrics:
            self._meter_provider = _meter_provider(plan, resource)
            metrics.set_meter_provider(self._meter_provider)
        self._tracer = trace.get_tracer(SCOPE)
        self._meter = metrics.get_meter(SCOPE)
        self._servers: dict[int, Any] = {}
        self._lock = threading.Lock()
        self._instrument_libraries()

    def _instrument_libraries(self) -> None:
        from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor  # noqa: PLC0415

        # Every statement executed on psycopg connections, under SQLAlchemy's engines. The
        # instrumentation wraps execute(); a COPY makes no span of its own.
        PsycopgInstrumentor().instrument(skip_dep_check=True)
        try:
            import celery  # noqa: F401, PLC0415 - only services that use Celery have it
        except ImportError:
            return
        from opentelemetry.instrumentation.celery import CeleryInstrumentor  # noqa: PLC0415

        # Spans, and the trace context carried in each message's headers. Its one metric (a runtime
        # histogram under Flower's name) is left out: celery.task.* below counts runs by state.
        instrumentor = CeleryInstrumentor()  # type: ignore[no-untyped-call]
        instrumentor.instrument(skip_dep_check=True, meter_provider=metrics.NoOpMeterProvider())
        if self.plan.metrics:
            _connect_task_metrics(self._meter)

    def fastapi_config(self) -> dict[str, Any]:
        return {
            "tracing": self.plan.traces,
            "metrics": self.plan.metrics,
            "logs": False,  # errors go to the log lines and Sentry
            "operation_spans": False,  # the database and Bybit spans say where a request's time went
            "auto_configure": False,
            "exclude": _scrapes,
        }

    def observe_pools(self, stats: Callable[[], Iterable[PoolStats]]) -> None:
        def read() -> list[PoolStats]:
            try:
                return list(stats())
            except Exception:  # a collection must never fail the exporter
                return []

        def count(_: CallbackOptions) -> Iterable[Observation]:
            for pool in read():
                name = {"db.client.connection.pool.name": pool.name}
                yield Observation(pool.used, {**name, "db.client.connection.state": "used"})
                yield Observation(pool.idle, {**name, "db.client.connection.state": "idle"})

        def pending(_: CallbackOptions) -> Iterable[Observation]:
            for pool in read():
                if pool.pending is not None:
                    yield Observation(pool.pending, {"db.client.connection.pool.name": pool.name})

        def maximum(_: CallbackOptions) -> Iterable[Observation]:
            for pool in read():
                yield Observation(pool.max, {"db.client.connection.pool.name": pool.name})

        meter = self._meter
        meter.create_observable_up_down_counter(
            "db.client.connection.count", [count], unit="{connection}", description="Connections by state"
        )
        meter.create_observable_up_down_counter(
            "db.client.connection.pending_requests",
            [pending],
            unit="{request}",
            description="Requests waiting for a connection",
        )
        meter.create_observable_up_down_counter(
            "db.client.connection.max", [maximum], unit="{connection}", description="The pool's limit"
        )

    def observe_queue(self, queue: str, length: Callable[[], int]) -> None:
        def observe(_: CallbackOptions) -> Iterable[Observation]:
            try:
                yield Observation(length(), {"messaging.destination.name": queue})
            except Exception:  # Redis away: no figure rather than a wrong one
                return

        self._meter.create_observable_gauge(
            "celery.queue.length", [observe], unit="{message}", description="Messages waiting in the queue"
        )

    def serve_prometheus(self, port: int | None = None) -> None:
        if not self.plan.prometheus:
            return
        port = self.plan.prometheus_port if port is None else port
        with self._lock:
            if port in self._servers:
                return
            from prometheus_client import start_http_server  # noqa: PLC0415

            self._servers[port] = start_http_server(port, addr=self.plan.prometheus_host)

    def prometheus_text(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest  # noqa: PLC0415

        return generate_latest(REGISTRY), CONTENT_TYPE_LATEST

    def shutdown(self) -> None:
        if self._tracer_provider is not None:
            self._tracer_provider.shutdown()
        if self._meter_provider is not None:
            self._meter_provider.shutdown()


def _scrapes(scope: Any) -> bool:
    """Requests FastAPI's telemetry leaves out: the scraper's own."""
    return bool(scope.get("path") == "/metrics")
