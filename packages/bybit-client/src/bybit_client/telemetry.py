"""The client's own telemetry, through the OpenTelemetry API: ``OpenTelemetryObserver`` is a
``CallObserver`` making one CLIENT span per call and the calls' metrics per endpoint.

Give the process's one (``observer=call_observer()``) to its clients in a process that sets
OpenTelemetry's tracer and meter providers; it records into them (the API's no-op ones
otherwise). Metrics: ``bybit.client.call.duration`` (seconds, by endpoint and error type),
``bybit.client.retries``, ``bybit.client.rate_limit.wait.duration``, ``bybit.client.errors``.
Needs the ``telemetry`` extra.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from time import perf_counter

from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind, StatusCode

from bybit_client.errors import BybitError, BybitRateLimitError

SCOPE = "bybit_client"
# Seconds: from a fast answer to a long rate-limit wait.
SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class CallTelemetry:
    """The events of one call: retries and rate-limit waits, on its span and the counters."""

    __slots__ = ("_attributes", "_owner", "_span")

    def __init__(self, owner: "OpenTelemetryObserver", span: trace.Span, attributes: dict[str, str]) -> None:
        self._owner, self._span, self._attributes = owner, span, attributes

    def retry(self, error: BybitError, delay: float) -> None:
        kind = type(error).__name__
        self._span.add_event("retry", {"error.type": kind, "bybit.retry.delay_s": delay})
        self._owner.retries.add(1, {**self._attributes, "error.type": kind})
        if isinstance(error, BybitRateLimitError):
            self._owner.rate_limit_waits.record(delay, self._attributes)


class OpenTelemetryObserver:
    """A span and the metrics of each call, on the global tracer and meter providers."""

    def __init__(self) -> None:
        self._tracer = trace.get_tracer(SCOPE)
        meter = metrics.get_meter(SCOPE)
        self.duration = meter.create_histogram(
            "bybit.client.call.duration",
            unit="s",
            description="Bybit calls, each with its retries and waits, by endpoint and error type",
            explicit_bucket_boundaries_advisory=SECONDS_BUCKETS,
        )
        self.retries = meter.create_counter(
            "bybit.client.retries", unit="{retry}", description="Bybit requests sent again, by endpoint"
        )
        self.rate_limit_waits = meter.create_histogram(
            "bybit.client.rate_limit.wait.duration",
            unit="s",
            description="Waits for Bybit's rate limit to reset, by endpoint",
            explicit_bucket_boundaries_advisory=SECONDS_BUCKETS,
        )
        self.errors = meter.create_counter(
            "bybit.client.errors", unit="{error}", description="Bybit calls that failed, by endpoint and type"
        )

    @contextmanager
    def call(self, method: str, endpoint: str) -> Iterator[CallTelemetry]:
        attributes = {"http.request.method": method, "url.template": endpoint}
        started = perf_counter()
        with self._tracer.start_as_current_span(
            f"bybit {method} {endpoint}",
            kind=SpanKind.CLIENT,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                yield CallTelemetry(self, span, attributes)
            except BaseException as exc:
                kind = type(exc).__name__
                span.set_attribute("error.type", kind)
                span.set_status(StatusCode.ERROR, kind)
                self.errors.add(1, {**attributes, "error.type": kind})
                self.duration.record(perf_counter() - started, {**attributes, "error.type": kind})
                raise
            self.duration.record(perf_counter() - started, attributes)


@cache
def call_observer() -> OpenTelemetryObserver:
    """The process's one observer (its instruments are created once)."""
    return OpenTelemetryObserver()
