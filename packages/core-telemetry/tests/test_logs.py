"""Trace ids on log lines: every line made inside a span carries its trace id and span id, looked
up once per line, whether structlog or the standard library wrote it."""

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

import core_config.logging_setup as logging_setup
import core_telemetry.logs as logs
from core_config import configure_logging, get_logger
from core_telemetry import add_trace_fields, install_log_record_fields, trace_fields

CONTEXT = SpanContext(
    trace_id=0x0AF7651916CD43DD8448EB211C80319C,
    span_id=0xB7AD6B7169203331,
    is_remote=False,
    trace_flags=TraceFlags(TraceFlags.SAMPLED),
)
TRACE_ID, SPAN_ID = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """Tracing's log fields switched on as start_telemetry does; every global put back after."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logging.getLogRecordFactory(), logs._tracing)
    chain = logging_setup._STRUCTLOG_CHAIN[:]
    written = io.StringIO()
    configure_logging("INFO", json_lines=True)
    handler = root.handlers[-1]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(written)
    logs._enable()
    install_log_record_fields()
    logging_setup.add_log_processor(add_trace_fields)
    yield written
    root.handlers[:], level, factory, logs._tracing = saved
    root.setLevel(level)
    logging.setLogRecordFactory(factory)
    logging_setup._STRUCTLOG_CHAIN[:] = chain
    structlog.reset_defaults()


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many times the current span is looked up."""
    counted: list[int] = []
    current = trace.get_current_span

    def counting(*args: object, **kwargs: object) -> trace.Span:
        counted.append(1)
        return current(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(trace, "get_current_span", counting)
    return counted


def test_every_line_in_a_span_carries_its_ids_looked_up_once(stream: io.StringIO, lookups: list[int]) -> None:
    with trace.use_span(NonRecordingSpan(CONTEXT)):
        get_logger("ours").info("synced", rows=3)
        logging.getLogger("theirs").warning("hello %s", "world")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]

    assert [line["message"] for line in lines] == ["synced", "hello world"]
    for line in lines:
        assert (line["trace_id"], line["span_id"]) == (TRACE_ID, SPAN_ID)
    assert len(lookups) == 2


def test_a_line_bringing_its_own_ids_keeps_them_without_a_lookup(
    stream: io.StringIO, lookups: list[int]
) -> None:
    # The API's access line: the ids of the request's span, read when the answer started.
    with trace.use_span(NonRecordingSpan(CONTEXT)):
        ids = trace_fields()
    lookups.clear()
    get_logger("api.access").info("GET /x 200", **ids)
    (line,) = [json.loads(line) for line in stream.getvalue().splitlines()]

    assert (line["trace_id"], line["span_id"]) == (TRACE_ID, SPAN_ID)
    assert lookups == []


def test_lines_outside_a_span_have_no_ids(stream: io.StringIO) -> None:
    get_logger("ours").info("idle")
    logging.getLogger("theirs").info("idle too")
    for line in stream.getvalue().splitlines():
        assert "trace_id" not in json.loads(line)
