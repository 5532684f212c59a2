"""Test doubles of the remote sides telemetry talks to: an OTLP/HTTP receiver and a Sentry ingest.

Both listen on 127.0.0.1 (a free port) in a thread and keep what they receive:

    with OtlpReceiver() as otlp:          # OTEL_EXPORTER_OTLP_ENDPOINT=otlp.endpoint
        ...
        spans = otlp.spans()              # every span received, decoded
    with SentryIngest() as sentry:        # SENTRY_DSN=sentry.dsn
        ...
        sentry.events()                   # every event received, decoded; sentry.raw() the bytes

Never used by the services themselves; tests and benchmarks only.
"""

import gzip
import json
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    kind: int
    attributes: dict[str, Any] = field(hash=False)


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


def _decompress(body: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    if encoding == "br":
        import brotli  # type: ignore[import-not-found]  # noqa: PLC0415 - only if a client sends it

        return bytes(brotli.decompress(body))
    return body


class _Receiver:
    """A threading HTTP server on a free loopback port, handing each POST to ``_handle``; a context
    manager that serves in a thread while open."""

    def __init__(self) -> None:
        handle = self._handle

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = _decompress(self.rfile.read(length), self.headers.get("Content-Encoding", ""))
                status, answer, content_type = handle(self.path, body)
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *_: Any) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self._http.server_address[1])
        self._thread = threading.Thread(target=self._http.serve_forever, name="test-receiver", daemon=True)
        self.lock = threading.Lock()

    def _handle(self, path: str, body: bytes) -> tuple[int, bytes, str]:
        """The status, body and content type of the answer to a POST of ``body`` to ``path``."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._http.shutdown()
        self._http.server_close()


_TRACE_ANSWER = ExportTraceServiceResponse().SerializeToString()


class OtlpReceiver(_Receiver):
    """An OTLP/HTTP (protobuf) receiver of traces and metrics."""

    def __init__(self) -> None:
        # Bodies are kept as received and decoded when read: receiving costs the sender no more
        # than a collector's answer would, and a benchmark exporting to it measures the sender.
        self._trace_bodies: list[bytes] = []
        self._metric_bodies: list[bytes] = []
        self._traces: list[ExportTraceServiceRequest] = []
        self._metrics: list[ExportMetricsServiceRequest] = []
        super().__init__()
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def _handle(self, path: str, body: bytes) -> tuple[int, bytes, str]:
        if path == "/v1/traces":
            with self.lock:
                self._trace_bodies.append(body)
            return 200, _TRACE_ANSWER, "application/x-protobuf"
        if path == "/v1/metrics":
            with self.lock:
                self._metric_bodies.append(body)
            return 200, b"", "application/x-protobuf"
        return 404, b"", "text/plain"

    def _trace_requests(self) -> list[ExportTraceServiceRequest]:
        with self.lock:
            self._traces.extend(map(ExportTraceServiceRequest.FromString, self._trace_bodies))
            self._trace_bodies.clear()
            return list(self._traces)

    def _metric_requests(self) -> list[ExportMetricsServiceRequest]:
        with self.lock:
            self._metrics.extend(map(ExportMetricsServiceRequest.FromString, self._metric_bodies))
            self._metric_bodies.clear()
            return list(self._metrics)

    def spans(self) -> list[ReceivedSpan]:
        requests = self._trace_requests()
        found: list[ReceivedSpan] = []
        for request in requests:
            for resource_spans in request.resource_spans:
                resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        found.append(
                            ReceivedSpan(
                                service=str(resource.get("service.name", "")),
                                name=span.name,
                                trace_id=span.trace_id.hex(),
                                span_id=span.span_id.hex(),
                                parent_span_id=span.parent_span_id.hex(),
                                kind=span.kind,
                                attributes={a.key: _value(a.value) for a in span.attributes},
                            )
                        )
        return found

    def metric_names(self) -> set[str]:
        requests = self._metric_requests()
        return {
            metric.name
            for request in requests
            for resource_metrics in request.resource_metrics
            for scope_metrics in resource_metrics.scope_metrics
            for metric in scope_metrics.metrics
        }

    def wait_for(
        self, condition: Callable[[list[ReceivedSpan]], bool], timeout: float = 20.0
    ) -> list[ReceivedSpan]:
        """The spans once ``condition(spans)`` holds; ``TimeoutError`` after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            spans = self.spans()
            if condition(spans):
                return spans
            if time.monotonic() > deadline:
                seen = "\n".join(
                    f"{s.service} {s.name} kind={s.kind} trace={s.trace_id} span={s.span_id} "
                    f"parent={s.parent_span_id} {s.attributes}"
                    for s in spans
                )
                raise TimeoutError(f"the {len(spans)} spans received never met the condition:\n{seen}")
            time.sleep(0.05)


class SentryIngest(_Receiver):
    """Sentry's envelope endpoint (``POST /api/<project>/envelope/``), keeping every envelope."""

    def __init__(self) -> None:
        self._envelopes: list[bytes] = []
        super().__init__()
        self.dsn = f"http://publickey@127.0.0.1:{self.port}/1"

    def _handle(self, path: str, body: bytes) -> tuple[int, bytes, str]:
        if path.endswith("/envelope/") or path.endswith("/store/"):
            with self.lock:
                self._envelopes.append(body)
            return 200, b"{}", "application/json"
        return 404, b"", "text/plain"

    def raw(self) -> bytes:
        """Every envelope received, concatenated, as sent (decompressed)."""
        with self.lock:
            return b"\n".join(self._envelopes)

    def events(self) -> list[dict[str, Any]]:
        """The error events among the envelopes' items."""
        with self.lock:
            envelopes = list(self._envelopes)
        events: list[dict[str, Any]] = []
        for envelope in envelopes:
            lines = envelope.split(b"\n")
            index = 1  # the first line is the envelope's header
            while index + 1 < len(lines):
                header = json.loads(lines[index])
                payload = lines[index + 1]
                if header.get("type") == "event":
                    events.append(json.loads(payload))
                index += 2
        return events

    def wait_for_events(self, count: int = 1, timeout: float = 20.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(events := self.events()) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(events)} Sentry events received, {count} expected")
            time.sleep(0.05)
        return events
